"""Races: concurrent uploads and publishes against the real multi-worker server on PostgreSQL.

Every upload goes through twine's own `Repository.upload` (the multipart body twine
streams), many at once behind a barrier, as the jobs of a CI matrix do. Afterwards the
database, the bucket and the public views must agree: one release, every file exactly
once, digests matching the stored bytes, no orphan object, nothing half-published.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import requests
from django.db import connection

from releases.models import File
from releases.services import uploads
from releases.storage import cleanup as cleanup_mod
from releases.storage import packages_storage
from tests.e2e.harness import JSON_V1, draft_links, module_name, unique_name
from tests.hardening.support import (
    TwineUpload,
    at_once,
    check_storage,
    digests,
    sha256_file,
    status_of,
    write_sdist,
    write_wheel,
)
from tests.support.distributions import make_wheel

PLATFORMS = ["manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "macosx_11_0_arm64", "win_amd64"]
TWENTY_TAGS = [f"cp3{minor}-cp3{minor}-{platform}" for minor in range(9, 14) for platform in PLATFORMS]


def twine(url: str, path, token: str) -> TwineUpload:
    return TwineUpload(url, path, username="__token__", password=token)


def simple_files(server, name: str) -> tuple[int, dict[str, str]]:
    """(status, {filename: sha256}) of the public simple page of a project."""
    response = requests.get(f"{server.simple}{name}/", headers={"Accept": JSON_V1}, timeout=30)
    if response.status_code != 200:
        return response.status_code, {}
    return 200, {f["filename"]: f["hashes"]["sha256"] for f in response.json()["files"]}


def assert_rows_match_stored_bytes(bucket, files: list[dict]) -> None:
    for row in files:
        data = bucket.get(row["path"])
        assert data is not None, f"{row['filename']}: its object {row['path']} is missing"
        assert digests(data) == {k: row[k] for k in ("sha256", "blake2_256", "md5")}, row["filename"]
        assert len(data) == row["size"], row["filename"]


def assert_storage_consistent(manage, *names: str) -> None:
    """`manage.py check_storage` finds no orphan object and no missing one for these projects."""
    report = check_storage(manage)
    for name in names:
        found = report.about(module_name(name))
        assert (found.orphans, found.missing) == ([], []), report.output


def assert_public_view_matches_database(server, sql, name: str) -> None:
    """The simple index shows exactly the published files; a draft's files are 404 publicly."""
    files = sql.files(name)
    published = {f["filename"]: f["sha256"] for f in files if not f["draft"]}
    status, shown = simple_files(server, name)
    assert status == (200 if published else 404)
    assert shown == published
    for row in files:
        if row["draft"]:
            assert requests.get(f"{server.url}/packages/{row['path']}", timeout=30).status_code == 404


@pytest.mark.usefixtures("accounts")
def test_twenty_concurrent_uploads_into_one_new_draft_land_exactly_once(
    server, alice_token, sql, bucket, manage, dists, server_log
):
    name = unique_name("matrix")
    uploads = [twine(server.legacy_draft, write_wheel(dists, name, "1.0", tag=tag), alice_token) for tag in TWENTY_TAGS]

    results = at_once(upload.send for upload in uploads)

    assert [status_of(r) for r in results] == [200] * 20, [getattr(r, "text", r) for r in results]
    # Every job was told the same draft (one token, one index).
    assert len({draft_links(r.text).index for r in results}) == 1
    assert len(sql.project_ids(name)) == 1
    releases = sql.releases(name)
    assert len(releases) == 1 and releases[0][2] is None, releases
    files = sql.files(name)
    assert sorted(f["filename"] for f in files) == sorted(u.path.name for u in uploads)
    assert {f["filename"]: f["sha256"] for f in files} == {u.path.name: sha256_file(u.path) for u in uploads}
    assert_rows_match_stored_bytes(bucket, files)
    index = requests.get(draft_links(results[0].text).index + f"{name}/", headers={"Accept": JSON_V1}, timeout=30)
    assert index.status_code == 200
    assert len(index.json()["files"]) == 20
    assert_public_view_matches_database(server, sql, name)
    assert_storage_consistent(manage, name)
    assert server_log.server_errors() == []


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("kind", ["wheel and sdist", "one wheel twice"])
def test_two_concurrent_first_uploads_by_one_user_create_one_project(
    kind, server, alice_token, sql, bucket, manage, dists, server_log
):
    names = []
    for _ in range(3):
        name = unique_name("first")
        if kind == "wheel and sdist":
            paths = [write_wheel(dists, name, "1.0"), write_sdist(dists, name, "1.0")]
        else:
            paths = [write_wheel(dists, name, "1.0")] * 2

        results = at_once(twine(server.legacy_draft, path, alice_token).send for path in paths)

        assert [status_of(r) for r in results] == [200, 200], [getattr(r, "text", r) for r in results]
        assert len(sql.project_ids(name)) == 1
        assert sql.roles(name) == [("alice", "owner")]
        assert len(sql.releases(name)) == 1
        files = sql.files(name)
        assert sorted(f["filename"] for f in files) == sorted({p.name for p in paths})
        assert_rows_match_stored_bytes(bucket, files)
        names.append(name)
    assert_storage_consistent(manage, *names)
    assert server_log.server_errors() == []


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("same_bytes", [True, False], ids=["same file", "different files"])
def test_two_concurrent_first_uploads_by_different_users_create_one_project_owned_by_the_winner(
    same_bytes, server, alice_token, charlie_token, sql, bucket, manage, dists, server_log
):
    names = []
    for _ in range(3):
        name = unique_name("squat")
        alice_file = write_wheel(dists, name, "1.0")
        charlie_file = alice_file if same_bytes else write_sdist(dists, name, "1.0")

        alice, charlie = at_once(
            [
                twine(server.legacy_draft, alice_file, alice_token).send,
                twine(server.legacy_draft, charlie_file, charlie_token).send,
            ]
        )

        statuses = {"alice": status_of(alice), "charlie": status_of(charlie)}
        assert sorted(statuses.values()) == [200, 403], statuses
        winner = "alice" if statuses["alice"] == 200 else "charlie"
        loser_response = charlie if winner == "alice" else alice
        assert "isn't allowed to upload" in loser_response.text
        assert len(sql.project_ids(name)) == 1
        assert sql.roles(name) == [(winner, "owner")]
        winner_file = alice_file if winner == "alice" else charlie_file
        files = sql.files(name)
        assert [f["filename"] for f in files] == [winner_file.name]
        assert files[0]["sha256"] == sha256_file(winner_file)
        assert_rows_match_stored_bytes(bucket, files)
        names.append(name)
    assert_storage_consistent(manage, *names)
    assert server_log.server_errors() == []


class Poller:
    """Reads a project's public simple page over and over while a race runs."""

    def __init__(self, server, name: str):
        self.server, self.name = server, name
        self.seen: list[tuple[int, dict[str, str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append(simple_files(self.server, self.name))
            time.sleep(0.005)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


RACING_UPLOADS = ["new file to /legacy/", "new file to /legacy/draft/", "replacement to /legacy/draft/"]


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("racer", RACING_UPLOADS)
def test_publish_racing_an_upload_never_leaves_a_release_half_published(
    racer, server, alice_token, sql, bucket, manage, dists, server_log
):
    names = []
    for _ in range(3):
        name = unique_name("pubrace")
        first = write_wheel(dists, name, "1.0")
        assert twine(server.legacy_draft, first, alice_token).send().status_code == 200
        if racer.startswith("replacement"):
            second = write_wheel(dists, name, "1.0", module_source="# replaced\n")
        else:
            second = write_wheel(dists, name, "1.0", tag="py2.py3-none-any")
        url = server.legacy if racer.endswith("/legacy/") else server.legacy_draft
        upload = twine(url, second, alice_token)

        def publish():
            return requests.post(
                f"{server.url}/api/v1/projects/{name}/releases/1.0/publish/",
                headers={"Authorization": f"Bearer {alice_token}"},
                timeout=60,
            )

        with Poller(server, name) as poller:
            published, uploaded = at_once([publish, upload.send])
            time.sleep(0.05)

        assert status_of(published) == 200, getattr(published, "text", published)
        assert status_of(uploaded) in (200, 400), getattr(uploaded, "text", uploaded)
        if uploaded.status_code == 400:
            # Only a publish that came first explains a refusal, and the message says so.
            assert "already published" in uploaded.text or uploaded.text.startswith("File already exists")
        went_into_draft = uploaded.status_code == 200 and uploaded.text.startswith("DRAFT:")

        releases = sql.releases(name)
        assert len(releases) == 1 and releases[0][2] is not None and releases[0][3] is None, releases
        final = {f["filename"]: f["sha256"] for f in sql.files(name)}
        expected = {first.name: sha256_file(first)}
        if uploaded.status_code == 200:
            expected[second.name] = sha256_file(second)
        assert final == expected
        assert sql.publication_violations() == []
        assert_rows_match_stored_bytes(bucket, sql.files(name))
        assert_public_view_matches_database(server, sql, name)

        # Never half-visible: while it raced, the page was absent or showed published files
        # only, with the right bytes; an upload that joined the draft appears with the publish.
        for status, shown in poller.seen:
            assert status in (200, 404), poller.seen
            if status == 200:
                assert shown and shown.items() <= final.items(), (shown, final)
                assert first.name in shown
                if went_into_draft:
                    assert shown == final, (shown, final)
        names.append(name)
    assert_storage_consistent(manage, *names)
    assert server_log.server_errors() == []


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("start", ["new draft", "draft without the file", "draft with the file"])
def test_two_concurrent_uploads_of_one_filename_leave_exactly_one_file_matching_its_bytes(
    start, server, alice_token, sql, bucket, manage, dists, server_log
):
    names = []
    for _ in range(3):
        name = unique_name("samename")
        one = write_wheel(dists, name, "1.0", module_source="# one\n")
        two = write_wheel(dists, name, "1.0", module_source="# two\n")
        assert one.name == two.name and sha256_file(one) != sha256_file(two)
        if start == "draft without the file":
            other = write_wheel(dists, name, "1.0", tag="py2.py3-none-any")
            assert twine(server.legacy_draft, other, alice_token).send().status_code == 200
        elif start == "draft with the file":
            seed = write_wheel(dists, name, "1.0", module_source="# seed\n")
            assert twine(server.legacy_draft, seed, alice_token).send().status_code == 200

        results = at_once(
            [twine(server.legacy_draft, one, alice_token).send, twine(server.legacy_draft, two, alice_token).send]
        )

        assert [status_of(r) for r in results] == [200, 200], [getattr(r, "text", r) for r in results]
        rows = [f for f in sql.files(name) if f["filename"] == one.name]
        assert len(rows) == 1
        assert rows[0]["sha256"] in (sha256_file(one), sha256_file(two))
        assert_rows_match_stored_bytes(bucket, sql.files(name))
        names.append(name)
    assert_storage_consistent(manage, *names)
    assert server_log.server_errors() == []


@pytest.mark.usefixtures("accounts")
def test_replacements_flipping_a_draft_file_between_two_contents_never_lose_its_object(
    server, alice_token, sql, bucket, manage, dists, server_log
):
    """Keys are content addressed: re-uploading earlier bytes reuses the key that a
    concurrent replacement is about to delete. The surviving row must keep its object."""
    names = []
    for _ in range(3):
        name = unique_name("flip")
        one = write_wheel(dists, name, "1.0", module_source="# one\n")
        two = write_wheel(dists, name, "1.0", module_source="# two\n")
        assert twine(server.legacy_draft, one, alice_token).send().status_code == 200

        results = at_once(twine(server.legacy_draft, (two, one)[i % 2], alice_token).send for i in range(12))

        assert [status_of(r) for r in results] == [200] * 12, [getattr(r, "text", r) for r in results]
        rows = sql.files(name)
        assert len(rows) == 1
        assert_rows_match_stored_bytes(bucket, rows)
        names.append(name)
    assert_storage_consistent(manage, *names)
    assert server_log.server_errors() == []


# --- the same interleavings, forced, in process -----------------------------------------------


def stored_sha256(key: str) -> str | None:
    storage = packages_storage()
    if not storage.exists(key):
        return None
    with storage.open(key, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def cleanup_in_another_worker(key: str, cleaned: list[str]) -> threading.Event:
    """Run the key-locked cleanup of `key` on a thread with its own connection."""
    done = threading.Event()

    def cleanup() -> None:
        try:
            cleaned.extend(cleanup_mod.delete_unreferenced([key]))
        finally:
            connection.close()
            done.set()

    threading.Thread(target=cleanup, daemon=True).start()
    return done


@pytest.mark.django_db(transaction=True)
def test_a_cleanup_of_the_key_while_the_upload_holds_its_lock_waits_and_keeps_the_object(
    project, uploader, monkeypatch
):
    """The cleanup of this very key (same bytes, same filename: a discarded draft file's
    object) starts once the upload holds the key's lock, before its object is written and
    its row commits. It must wait for the commit, see the row and keep the object."""
    real_start, real_files = uploads.start_create, uploads._files_in_the_way
    writes: list[str] = []
    cleaned: list[str] = []
    finished: list[threading.Event] = []

    def counted_start(key: str, local_path: str, size: int):
        writes.append(key)
        return real_start(key, local_path, size)

    def files_then_cleanup(upload, project):
        found = real_files(upload, project)
        finished.append(cleanup_in_another_worker(upload.incoming.key, cleaned))
        # Time for the cleanup to find no row and delete the object, unless it waits on
        # the key lock as it must.
        finished[0].wait(0.5)
        return found

    monkeypatch.setattr(uploads, "start_create", counted_start)
    monkeypatch.setattr(uploads, "_files_in_the_way", files_then_cleanup)

    assert uploader.upload("acme", "1.0", path="/legacy/draft/").status_code == 200

    assert finished and finished[0].wait(30)
    stored = File.objects.get()
    assert writes == [stored.path]
    assert stored_sha256(stored.path) == stored.sha256_digest
    if connection.vendor == "postgresql":
        # It waited for the commit, found the row and deleted nothing. (SQLite's shared
        # in-memory test database refuses the second writer at once instead.)
        assert cleaned == []


@pytest.mark.django_db
def test_a_late_cleanup_of_a_replaced_file_keeps_the_object_a_newer_upload_uses(project, uploader, monkeypatch):
    """Draft file one is replaced by two, whose worker is slow to delete one's object; in
    the meantime one is uploaded again (same key). The late cleanup must keep the object."""
    one = make_wheel("acme", "1.0", module_source="# one\n")
    two = make_wheel("acme", "1.0", module_source="# two\n")
    assert uploader.upload("acme", "1.0", wheel=one, path="/legacy/draft/").status_code == 200
    late = []
    with monkeypatch.context() as patched:
        patched.setattr(uploads, "delete_unreferenced", late.append)
        assert uploader.upload("acme", "1.0", wheel=two, path="/legacy/draft/").status_code == 200
    assert uploader.upload("acme", "1.0", wheel=one, path="/legacy/draft/").status_code == 200

    assert late
    for keys in late:
        cleanup_mod.delete_unreferenced(keys)

    stored = File.objects.get()
    assert stored.sha256_digest == hashlib.sha256(one[1]).hexdigest()
    assert stored_sha256(stored.path) == stored.sha256_digest
