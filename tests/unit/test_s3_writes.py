"""Writes to S3 go through django-storages' boto3 client: conditional, retried, bounded.

The object store is the real SeaweedFS of `make test`; the faults come from a small HTTP
relay on loopback in front of it that answers some requests itself (503 SlowDown, 500)
and passes the others through unchanged.
"""

from __future__ import annotations

import http.client
import http.server
import os
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import storages

from releases.storage import StorageUnavailable, create_object, packages_storage
from releases.storage.s3 import PackageS3Storage

SLOW_DOWN = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"""


@pytest.fixture
def s3(settings) -> PackageS3Storage:
    # Under `make test` and CI the suite runs against S3; tests/conftest.py fails the run otherwise.
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
    assert create_object(key, path, len(data)) is True
    assert stored(s3, key) == (data, "application/octet-stream")


@pytest.mark.parametrize("large", [False, True], ids=["small", "multipart"])
def test_an_object_that_exists_is_never_rewritten(s3, tmp_path, large):
    size = s3.transfer_config.multipart_threshold + 1 if large else 3000
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"1" * size)
    second.write_bytes(b"2" * size)
    assert create_object("aa/bb/cc/same.whl", str(first), size) is True
    assert create_object("aa/bb/cc/same.whl", str(second), size) is False
    assert stored(s3, "aa/bb/cc/same.whl")[0] == first.read_bytes()


class Relay:
    """An HTTP relay to the object store that answers the first `faults` requests itself."""

    def __init__(self, upstream: str, faults: int, status: int, body: bytes):
        self.upstream = urlsplit(upstream)
        self.faults, self.status, self.body = faults, status, body
        self.seen: list[str] = []
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                relay.seen.append(self.command)
                if len(relay.seen) <= relay.faults:
                    self.send_response(relay.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(relay.body)))
                    self.end_headers()
                    self.wfile.write(relay.body)
                    return
                upstream = http.client.HTTPConnection(relay.upstream.hostname, relay.upstream.port, timeout=30)
                # The signature covers Host: it is passed through as the client sent it.
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = upstream.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                upstream.close()

            do_PUT = do_GET = do_HEAD = do_POST = do_DELETE = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relayed(s3, settings) -> Iterator[callable]:
    """Point the packages storage at a Relay with the given faults."""
    relays: list[Relay] = []

    def start(faults: int, status: int = 503, body: bytes = SLOW_DOWN) -> Relay:
        relay = Relay(settings.STORAGES["packages"]["OPTIONS"]["endpoint_url"], faults, status, body)
        relays.append(relay)
        options = dict(settings.STORAGES["packages"]["OPTIONS"], endpoint_url=relay.url)
        packages = {**settings.STORAGES["packages"], "OPTIONS": options}
        settings.STORAGES = {**settings.STORAGES, "packages": packages}
        assert isinstance(storages["packages"], PackageS3Storage)
        return relay

    yield start
    for relay in relays:
        relay.close()


def test_a_slow_down_answer_is_retried_with_backoff_until_the_object_is_stored(relayed, blob, settings):
    path, data = blob
    relay = relayed(faults=2)
    assert create_object("aa/bb/cc/slow.whl", path, len(data)) is True
    assert relay.seen == ["PUT", "PUT", "PUT"]
    assert stored(packages_storage(), "aa/bb/cc/slow.whl")[0] == data


def test_a_store_that_keeps_failing_is_a_storage_failure_after_the_configured_attempts(relayed, blob, settings):
    path, data = blob
    relay = relayed(faults=100, status=500, body=b"<Error><Code>InternalError</Code></Error>")
    with pytest.raises(StorageUnavailable):
        create_object("aa/bb/cc/broken.whl", path, len(data))
    assert relay.seen == ["PUT"] * settings.PYPIDRAFT_STORAGE_MAX_ATTEMPTS


def test_the_client_has_the_storage_settings_timeouts_and_retries(s3, settings):
    config = s3.connection.meta.client.meta.config
    assert config.connect_timeout == settings.PYPIDRAFT_STORAGE_CONNECT_TIMEOUT
    assert config.read_timeout == settings.PYPIDRAFT_STORAGE_READ_TIMEOUT
    assert config.retries == {"mode": "standard", "total_max_attempts": settings.PYPIDRAFT_STORAGE_MAX_ATTEMPTS}


def test_a_refused_write_is_a_storage_failure(s3, blob, settings):
    path, data = blob
    options = dict(settings.STORAGES["packages"]["OPTIONS"], secret_key="not-the-secret")
    settings.STORAGES = {**settings.STORAGES, "packages": {**settings.STORAGES["packages"], "OPTIONS": options}}
    with pytest.raises(StorageUnavailable):
        create_object("aa/bb/cc/refused.whl", path, len(data))
