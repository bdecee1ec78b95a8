"""A real bandersnatch mirror against a live server: drafts never reach it, publishing does.

The server has acme 1.0 (published), the draft acme 2.0 (a wheel and an sdist) and a
project `secret` whose only release is a draft. The first sync mirrors acme 1.0 and
nothing of either draft; publishing both through the maintainer API writes their journal
entries, and the next (incremental) sync fetches their files with matching hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import requests

from releases.models import File, JournalEntry, Release
from releases.services import create_api_token, draft_token
from tests.conftest import PASSWORD
from tests.support.distributions import make_sdist, make_wheel, upload_fields

CONFIG = """\
[mirror]
directory = {directory}
master = {master}
allow-non-https = true
json = true
release-files = true
cleanup = false
hash-index = false
simple-format = ALL
api-method = xmlrpc
compare-method = hash
digest_name = sha256
stop-on-error = true
storage-backend = filesystem
timeout = 10
global-timeout = 120
workers = 1
verifiers = 1
"""


def upload(server: str, name: str, version: str, dist: tuple[str, bytes], *, draft: bool) -> None:
    filename, data = dist
    response = requests.post(
        f"{server}/legacy/{'draft/' if draft else ''}",
        data=upload_fields(name, version, filename, data),
        files={"content": (filename, data, "application/octet-stream")},
        auth=("alice", PASSWORD),
        timeout=30,
    )
    assert response.status_code == 200, response.text


def sync(bandersnatch: Path, config: Path) -> str:
    # No proxy may stand between the mirror and the loopback server.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    result = subprocess.run(
        [str(bandersnatch), "--config", str(config), "mirror"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def mirrored_files(web: Path) -> dict[str, str]:
    """{filename: sha256} of every file under web/packages/."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (web / "packages").rglob("*")
        if path.is_file()
    }


def everything_in(directory: Path) -> str:
    return "\n".join(
        str(path) + "\n" + path.read_bytes().decode("utf-8", "replace")
        for path in directory.rglob("*")
        if path.is_file()
    )


def test_mirror_never_sees_a_draft_until_it_is_published(
    transactional_db, alice, project, bandersnatch, tmp_path, live_server
):
    # `live_server` comes after the database fixtures so that it stops (and its thread
    # closes its connections) before the test database is dropped.
    server = live_server.url
    upload(server, "acme", "1.0", make_wheel("acme", "1.0"), draft=False)
    upload(server, "acme", "2.0", make_wheel("acme", "2.0"), draft=True)
    upload(server, "acme", "2.0", make_sdist("acme", "2.0"), draft=True)
    upload(server, "secret", "0.1", make_wheel("secret", "0.1"), draft=True)
    acme_draft = Release.objects.get(project=project, version="2.0")
    secret_draft = Release.objects.get(project__normalized_name="secret")
    draft_files = set(File.objects.drafts().values_list("filename", flat=True))
    assert len(draft_files) == 3
    tokens = [draft_token(acme_draft), draft_token(secret_draft)]

    directory = tmp_path / "mirror"
    config = tmp_path / "bandersnatch.conf"
    config.write_text(CONFIG.format(directory=directory, master=server))
    web = directory / "web"

    # First sync: acme 1.0 only.
    sync(bandersnatch, config)
    published = dict(File.objects.published().values_list("filename", "sha256_digest"))
    assert mirrored_files(web) == published
    assert len(published) == 1
    tree = everything_in(directory)
    for name in draft_files | set(tokens):
        assert name not in tree
    assert not (web / "simple" / "secret").exists()
    assert json.loads((web / "json" / "acme").read_text())["releases"].keys() == {"1.0"}
    first_serial = int((directory / "status").read_text())
    assert first_serial == JournalEntry.objects.order_by("-id").first().pk

    # Publish both drafts through the API, as CI would.
    token = create_api_token(user=alice)[1]
    for name, version in [("acme", "2.0"), ("secret", "0.1")]:
        response = requests.post(
            f"{server}/api/v1/projects/{name}/releases/{version}/publish/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text

    # Second, incremental sync (changelog_since_serial): the published drafts arrive.
    sync(bandersnatch, config)
    published = dict(File.objects.published().values_list("filename", "sha256_digest"))
    assert len(published) == 4
    assert mirrored_files(web) == published
    assert int((directory / "status").read_text()) == JournalEntry.objects.order_by("-id").first().pk > first_serial
    acme_page = (web / "simple" / "acme" / "index.html").read_text()
    acme_draft_files = draft_files - {secret_draft.files.get().filename}
    assert len(acme_draft_files) == 2
    for filename in acme_draft_files:
        assert filename in acme_page
    assert (web / "simple" / "secret" / "index.html").exists()
    assert json.loads((web / "json" / "acme").read_text())["releases"].keys() == {"1.0", "2.0"}
