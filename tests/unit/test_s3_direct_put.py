"""Small files go to S3 in one signed PUT of our own (releases.s3storage.DirectPut)."""

from __future__ import annotations

import os
import socket
import threading

import pytest
from django.core.files.storage import storages

from releases.s3storage import ObjectWriteFailed, PackageS3Storage
from releases.storage import INLINE_PUT_BYTES, StorageUnavailable, packages_storage, start_store


@pytest.fixture
def s3(settings) -> PackageS3Storage:
    if settings.PYPIDRAFT_STORAGE != "s3":
        pytest.skip("runs where the suite runs against S3 (make test)")
    storage = packages_storage()
    assert isinstance(storage, PackageS3Storage)
    return storage


@pytest.fixture
def blob(tmp_path) -> tuple[str, bytes]:
    data = os.urandom(5000) + b"\x00\xff end"
    path = tmp_path / "blob"
    path.write_bytes(data)
    return str(path), data


def stored(storage, key: str) -> tuple[bytes, str]:
    with storage.open(key, "rb") as fh:
        data = fh.read()
    head = storage.connection.meta.client.head_object(Bucket=storage.bucket_name, Key=storage._normalize_name(key))
    return data, head["ContentType"]


def test_a_small_file_is_stored_byte_for_byte_as_an_opaque_object(s3, blob):
    path, data = blob
    key = "aa/bb/cc/odd name+(1)~%.whl"
    send = s3.small_file_writer(key, len(data))
    assert send is not None
    send(path).finish()
    assert stored(s3, key) == (data, "application/octet-stream")


def test_a_file_above_the_multipart_threshold_takes_the_regular_path(s3):
    assert s3.small_file_writer("aa/bb/cc/big.whl", s3.transfer_config.multipart_threshold + 1) is None


def test_a_kept_alive_connection_the_server_dropped_is_replaced(s3, blob):
    path, data = blob
    s3.small_file_writer("aa/bb/cc/one.whl", len(data))(path).finish()
    connection = s3._direct_put().local.connection
    connection.sock.shutdown(socket.SHUT_RDWR)  # as when the server closes an idle connection
    s3.small_file_writer("aa/bb/cc/two.whl", len(data))(path).finish()
    assert stored(s3, "aa/bb/cc/two.whl")[0] == data
    assert s3._direct_put().local.connection is not connection


def test_a_put_that_failed_to_leave_is_never_sent_later(s3, blob, monkeypatch):
    """A timeout while sending: the upload learns of it at once and cleans up after it; the
    next PUT on the thread must not send the failed one again (its object would come back
    after the cleanup, an orphan)."""
    path, data = blob
    s3.small_file_writer("aa/bb/cc/first.whl", len(data))(path).finish()
    connection = s3._direct_put().local.connection

    def time_out(*args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setattr(connection, "request", time_out)
    write = start_store("aa/bb/cc/failed.whl", path, len(data))
    with pytest.raises(StorageUnavailable):
        write.wait()
    s3.small_file_writer("aa/bb/cc/next.whl", len(data))(path).finish()
    assert stored(s3, "aa/bb/cc/next.whl")[0] == data
    assert not s3.exists("aa/bb/cc/failed.whl")


def test_puts_sent_from_the_request_thread_are_answered_in_order(s3, tmp_path):
    """start_store sends a small file's PUT at once and reads the answer on wait(); a
    second PUT on the same connection first reads the answer of the first."""
    blobs = {}
    for i in range(3):
        path = tmp_path / f"b{i}"
        path.write_bytes(os.urandom(1000 + i))
        blobs[f"aa/bb/cc/inline-{i}.whl"] = path
    writes = [start_store(key, str(path), path.stat().st_size) for key, path in blobs.items()]
    for write in reversed(writes):
        write.wait()
    for key, path in blobs.items():
        assert stored(s3, key)[0] == path.read_bytes()


def test_a_larger_file_goes_from_a_background_thread(s3, tmp_path, monkeypatch):
    path = tmp_path / "larger"
    path.write_bytes(os.urandom(INLINE_PUT_BYTES + 1))
    threads = []
    real_send = s3._direct_put().send

    def send(*args):
        threads.append(threading.current_thread())
        return real_send(*args)

    monkeypatch.setattr(s3._direct_put(), "send", send)
    start_store("aa/bb/cc/larger.whl", str(path), path.stat().st_size).wait()
    assert stored(s3, "aa/bb/cc/larger.whl")[0] == path.read_bytes()
    assert threads and threads[0] is not threading.current_thread()


def test_a_refused_write_is_a_storage_failure(s3, blob, settings):
    path, data = blob
    options = dict(settings.STORAGES["packages"]["OPTIONS"], secret_key="not-the-secret")
    settings.STORAGES = {**settings.STORAGES, "packages": {**settings.STORAGES["packages"], "OPTIONS": options}}
    storage = storages["packages"]
    with pytest.raises(ObjectWriteFailed, match="HTTP 403"):
        storage.small_file_writer("aa/bb/cc/refused.whl", len(data))(path).finish()
    write = start_store("aa/bb/cc/refused.whl", path, len(data))
    with pytest.raises(StorageUnavailable):
        write.wait()


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("token", [None, "session-token"])
def test_our_signature_is_botocores(monkeypatch, https, token):
    """sign_v4 must sign exactly as botocore's S3SigV4Auth does, which S3 accepts."""
    import datetime as dt
    import hashlib

    import botocore.auth
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from releases.s3storage import sign_v4

    now = dt.datetime(2026, 11, 21, 18, 5, 9, tzinfo=dt.UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now.replace(tzinfo=None))
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token).get_frozen_credentials()
    body = b"\x00wheel bytes\xff"
    path = "/pypidraft-bucket/aa/bb/cc%20dd/odd%2Bname~%281%29.whl"
    host = "s3.example.test:8333"
    headers = {
        "Content-Type": "application/octet-stream",
        "Cache-Control": "public,  max-age=31536000 ",
        "Content-MD5": "aGVsbG8gd29ybGQgaGVsbG8=",
    }
    ours = sign_v4(
        "PUT",
        path,
        {
            **headers,
            "Host": host,
            "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
        },
        credentials,
        "eu-central-1",
        now,
    )
    request = AWSRequest(method="PUT", url=f"{'https' if https else 'http'}://{host}{path}", data=body, headers=headers)
    S3SigV4Auth(credentials, "s3", "eu-central-1").add_auth(request)
    theirs = dict(request.headers)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] and ours["X-Amz-Content-SHA256"] == theirs["X-Amz-Content-SHA256"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")
