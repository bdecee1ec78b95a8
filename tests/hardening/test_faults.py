"""Faults: the object store and the database go away in the middle of the suite.

Against the real server under scripts/testenv.py, which stops and restarts SeaweedFS and
PostgreSQL on the same ports with the same data. While a service is down the server
answers 503 with a message, promptly, and writes nothing; what was stored before is
untouched; once the service is back everything works again without restarting the app.
"""

from __future__ import annotations

import time

import pytest
import requests

from scripts import testenv
from tests.conftest import basic
from tests.e2e.harness import JSON_V1, download, module_name, unique_name
from tests.hardening.support import (
    TwineUpload,
    check_storage,
    digests,
    multipart_body,
    multipart_type,
    sha256_file,
    write_sdist,
    write_wheel,
)
from tests.support.distributions import upload_fields

pytestmark = pytest.mark.usefixtures("accounts")

# connect_timeout is 5 s (settings); a refused connection fails at once. Either way no
# client waits anywhere near gunicorn's 120 s worker timeout.
PROMPT = 15.0


def upload(url: str, path, token: str) -> tuple[requests.Response, float]:
    """Upload with twine's own code (which retries a 5xx five times before giving up)."""
    started = time.monotonic()
    response = TwineUpload(url, path, username="__token__", password=token).send()
    return response, time.monotonic() - started


def upload_once(url: str, path, token: str) -> tuple[requests.Response, float]:
    """One upload request, the form twine sends, without twine's retries: how long one takes."""
    name, version = path.name.split("-")[:2]
    fields = upload_fields(name.replace("_", "-"), version, path.name, path.read_bytes())
    started = time.monotonic()
    response = requests.post(
        url,
        data=multipart_body(list(fields.items()), (path.name, path.read_bytes())),
        headers={"Content-Type": multipart_type(), "Authorization": basic("__token__", token)},
        timeout=60,
    )
    return response, time.monotonic() - started


def rows_snapshot(sql, name: str) -> tuple[list, list]:
    return [r[:3] for r in sql.releases(name)], sql.files(name)


def test_uploads_answer_503_while_the_object_store_is_down_and_succeed_once_it_is_back(
    server, alice_token, sql, bucket, manage, dists, server_log
):
    name, newcomer = unique_name("s3down"), unique_name("s3new")
    stable = write_wheel(dists, name, "1.0")
    draft = write_sdist(dists, name, "2.0")
    assert upload(server.legacy, stable, alice_token)[0].status_code == 200
    assert upload(server.legacy_draft, draft, alice_token)[0].status_code == 200
    # A second project with a draft that gets discarded during the outage.
    doomed = write_wheel(dists, newcomer, "0.1")
    assert upload(server.legacy_draft, doomed, alice_token)[0].status_code == 200
    doomed_key = sql.files(newcomer)[0]["path"]
    before = rows_snapshot(sql, name)
    stored_before = {row["path"]: bucket.get(row["path"]) for row in before[1]}
    attempts = {
        "a file into the draft": (server.legacy_draft, write_wheel(dists, name, "2.0")),
        "a new published version": (server.legacy, write_wheel(dists, name, "3.0")),
        "a new project": (server.legacy_draft, write_wheel(dists, unique_name("s3none"), "1.0")),
    }

    # SeaweedFS needs ~15 s to exit on SIGTERM and testenv kills it after 5 s anyway.
    with testenv.service_stopped("s3", hard=True):
        for what, (url, path) in attempts.items():
            response, seconds = upload_once(url, path, alice_token)
            assert response.status_code == 503, (what, response.text)
            assert "package storage is unavailable" in response.text, what
            assert "package storage is unavailable" in response.reason, what  # twine prints the status line
            assert int(response.headers["Retry-After"]) > 0
            assert seconds < PROMPT, (what, seconds)
        # Nothing was written: the same releases and files, no new project.
        assert rows_snapshot(sql, name) == before
        new_project = module_name(attempts["a new project"][1].name.split("-")[0])
        assert (
            sql.rows("SELECT id FROM releases_project WHERE normalized_name LIKE %s", new_project.replace("_", "-"))
            == []
        )
        # What needs only the database keeps working, publishing and discarding included.
        listing = requests.get(f"{server.simple}{name}/", headers={"Accept": JSON_V1}, timeout=30)
        assert listing.status_code == 200
        assert [f["filename"] for f in listing.json()["files"]] == [stable.name]
        discarded = requests.delete(
            f"{server.url}/api/v1/projects/{newcomer}/releases/0.1/",
            headers={"Authorization": f"Bearer {alice_token}"},
            timeout=30,
        )
        assert discarded.status_code == 204

    # Everything stored before is intact, byte for byte, in the bucket and as served.
    assert before[1], "no file was stored before the outage"
    for row in before[1]:
        data = bucket.get(row["path"])
        assert data == stored_before[row["path"]]
        assert digests(data)["sha256"] == row["sha256"]
    stable_row = next(row for row in before[1] if row["filename"] == stable.name)
    assert digests(download(f"{server.url}/packages/{stable_row['path']}"))["sha256"] == sha256_file(stable)

    # The discarded draft's object could not be deleted during the outage: an orphan that
    # check_storage reports and --fix removes, on the real object store.
    report = check_storage(manage)
    assert report.about(module_name(newcomer)).orphans == [doomed_key], report.output
    fixed = check_storage(manage, "--fix")
    assert "deleted" in fixed.output
    assert bucket.get(doomed_key) is None

    # Uploads succeed again, without restarting the app.
    for what, (url, path) in attempts.items():
        response, _ = upload(url, path, alice_token)
        assert response.status_code == 200, (what, response.text)
    files = {f["filename"]: f for f in sql.files(name)}
    assert set(files) == {
        stable.name,
        draft.name,
        attempts["a file into the draft"][1].name,
        attempts["a new published version"][1].name,
    }
    for row in files.values():
        assert digests(bucket.get(row["path"]))["sha256"] == row["sha256"]
    after = check_storage(manage)
    assert (after.about(module_name(name)).orphans, after.about(module_name(name)).missing) == ([], [])
    assert server_log.server_errors(allowed=(503,)) == []


def test_requests_answer_503_promptly_while_the_database_is_down_and_work_once_it_is_back(
    server, alice_token, dists, sql, server_log
):
    name = unique_name("dbdown")
    assert upload(server.legacy, write_wheel(dists, name, "1.0"), alice_token)[0].status_code == 200
    late = write_wheel(dists, name, "1.1")
    bearer = {"Authorization": f"Bearer {alice_token}"}
    requests_to_try = {
        "simple root": lambda: requests.get(server.simple, timeout=30),
        "simple project": lambda: requests.get(f"{server.simple}{name}/", timeout=30),
        "project page": lambda: requests.get(f"{server.url}/project/{name}/", timeout=30),
        "maintainer API": lambda: requests.get(
            f"{server.url}/api/v1/projects/{name}/releases/", headers=bearer, timeout=30
        ),
        "JSON API": lambda: requests.get(f"{server.url}/pypi/{name}/json", timeout=30),
        "upload": lambda: upload_once(server.legacy, late, alice_token)[0],
    }

    testenv.stop_service("db")
    try:
        for _round in range(2):  # every worker's connection, not only the first one's
            for what, call in requests_to_try.items():
                started = time.monotonic()
                response = call()
                seconds = time.monotonic() - started
                assert response.status_code == 503, (what, response.status_code, response.text[:300])
                assert "database is unavailable" in response.text, what
                assert int(response.headers["Retry-After"]) > 0
                assert seconds < PROMPT, (what, seconds)
    finally:
        testenv.start_service("db")
        _drop_this_process_connections()

    # Back at once: every worker reconnects on its next request.
    for _ in range(6):
        assert requests.get(f"{server.simple}{name}/", timeout=30).status_code == 200
    assert upload(server.legacy, late, alice_token)[0].status_code == 200
    assert sorted(f["filename"] for f in sql.files(name)) == sorted(
        [f"{module_name(name)}-1.0-py3-none-any.whl", late.name]
    )
    assert server_log.server_errors(allowed=(503,)) == []


def _drop_this_process_connections() -> None:
    """The restart also cut this test process's own connections (pytest-django's)."""
    from django.db import connections

    connections.close_all()


def test_check_storage_reports_and_repairs_orphans_and_missing_objects_on_s3(
    server, alice_token, sql, bucket, manage, dists
):
    name = unique_name("fsck")
    module = module_name(name)
    published = write_wheel(dists, name, "1.0")
    draft_files = [write_wheel(dists, name, "2.0"), write_sdist(dists, name, "2.0")]
    assert upload(server.legacy, published, alice_token)[0].status_code == 200
    for path in draft_files:
        assert upload(server.legacy_draft, path, alice_token)[0].status_code == 200
    rows = {row["filename"]: row for row in sql.files(name)}
    # An object no row knows (an upload that died between storing and recording) ...
    orphan_key = f"0f/0f/{'0f' * 30}/{module}-9.9-py3-none-any.whl"
    bucket.put(orphan_key, b"left behind")
    # ... and rows whose object is gone (an operator's mistake), one published, one draft.
    lost_published, lost_draft = rows[published.name], rows[draft_files[0].name]
    bucket.delete(lost_published["path"])
    bucket.delete(lost_draft["path"])

    report = check_storage(manage).about(module)
    assert report.orphans == [orphan_key]
    assert sorted(report.missing) == sorted(
        [
            f"missing object for published file {published.name}: {lost_published['path']}",
            f"missing object for draft file {draft_files[0].name}: {lost_draft['path']}",
        ]
    )

    fixed = manage("check_storage", "--grace-minutes", "0", "--fix")
    assert "restore them from a backup" in fixed.stdout + (fixed.stderr or "")
    assert bucket.get(orphan_key) is None
    remaining = {row["filename"] for row in sql.files(name)}
    # The draft's broken row is dropped (re-upload it); the published one is kept and reported.
    assert remaining == {published.name, draft_files[1].name}
    assert bucket.get(rows[draft_files[1].name]["path"]) is not None

    # Restored from a backup, the published file is whole again and nothing is reported.
    bucket.put(lost_published["path"], published.read_bytes())
    after = check_storage(manage).about(module)
    assert (after.orphans, after.missing) == ([], [])
