"""Hardening, round two: a refused upload can never corrupt someone else's published file.

Filesystem storage wrote a small file's object before the uploader's rights were checked,
truncating and rewriting the existing object in place: refused re-uploads of a published
wheel's bytes cut concurrent downloads short, and with the disk full left the published
wheel truncated for good. Now nothing is written before the rights are known, an object
that exists is never rewritten, and a write goes to a temporary name linked into place.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
import threading
from pathlib import Path

import pytest
import requests

from releases.models import File
from releases.storage import packages_storage
from tests.e2e.harness import OUTSIDER, live_server, unique_name
from tests.hardening.support import TwineUpload, at_once, write_wheel
from tests.support.distributions import make_wheel


@pytest.fixture(scope="module")
def fs_server(e2e_environment, tmp_path_factory):
    """A second real server of the same database, with filesystem storage."""
    media = tmp_path_factory.mktemp("fs-packages")
    settings = {"PYPIDRAFT_STORAGE": "filesystem", "PYPIDRAFT_MEDIA_ROOT": str(media)}
    with live_server(e2e_environment, tmp_path_factory.mktemp("fs-gunicorn"), workers=4, settings=settings) as server:
        server.media = media
        yield server


def test_refused_and_identical_re_uploads_never_touch_a_published_file_being_downloaded(
    fs_server, accounts, dists, sql, server_log
):
    name = unique_name("bigwheel")
    noise = base64.b64encode(os.urandom(1_500_000)).decode()
    wheel = write_wheel(dists, name, "1.0", module_source=f'__version__ = "1.0"\nDATA = "{noise}"\n')
    data = wheel.read_bytes()
    expected = hashlib.sha256(data).hexdigest()
    owner, outsider = ("alice", accounts["alice"]), (OUTSIDER, accounts[OUTSIDER])
    assert TwineUpload(fs_server.legacy, wheel, username=owner[0], password=owner[1]).send().status_code == 200
    (row,) = sql.files(name)
    on_disk = Path(fs_server.media) / row["path"]
    inode = on_disk.stat().st_ino

    stop = threading.Event()
    downloads: list[tuple[int, str]] = []

    def download_loop() -> None:
        session = requests.Session()
        while not stop.is_set():
            answer = session.get(f"{fs_server.url}/packages/{row['path']}", timeout=30)
            downloads.append((answer.status_code, hashlib.sha256(answer.content).hexdigest()))

    readers = [threading.Thread(target=download_loop) for _ in range(6)]
    for reader in readers:
        reader.start()
    try:
        refused = at_once(
            [TwineUpload(fs_server.legacy, wheel, username=outsider[0], password=outsider[1]).send for _ in range(25)]
        )
        again = at_once(
            [TwineUpload(fs_server.legacy, wheel, username=owner[0], password=owner[1]).send for _ in range(5)]
        )
    finally:
        stop.set()
        for reader in readers:
            reader.join(60)

    assert [r.status_code for r in refused] == [403] * 25
    assert [r.status_code for r in again] == [200] * 5
    assert len(downloads) >= 20, len(downloads)
    assert {d for d in downloads} == {(200, expected)}
    assert on_disk.stat().st_ino == inode, "the published object was rewritten"
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == expected
    assert not [p for p in on_disk.parent.iterdir() if p.name.startswith(".partial-")]
    assert server_log.server_errors() == []


@pytest.mark.django_db(transaction=True)
def test_a_write_that_fails_half_way_leaves_nothing_and_no_row(settings, tmp_path, project, uploader, monkeypatch):
    """The disk fills up in the middle of a file: no object, no temporary file, no row, a
    503 — and a published file of the same name elsewhere is never opened for writing."""
    packages = {
        "BACKEND": "releases.storage.filesystem.PackageFileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "packages")},
    }
    settings.STORAGES = {**settings.STORAGES, "packages": packages}
    real_copy = shutil.copyfileobj

    def disk_full(source, target, length=0):
        target.write(source.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", disk_full)
    filename, data = make_wheel("acme", "1.0")
    response = uploader.upload("acme", "1.0", wheel=(filename, data))
    monkeypatch.setattr(shutil, "copyfileobj", real_copy)

    assert response.status_code == 503, response.content
    assert not File.objects.exists()
    left = [p for p in (tmp_path / "packages").rglob("*") if p.is_file()]
    assert left == []
    assert uploader.upload("acme", "1.0", wheel=(filename, data)).status_code == 200
    stored = File.objects.get()
    with packages_storage().open(stored.path, "rb") as fh:
        assert fh.read() == data
