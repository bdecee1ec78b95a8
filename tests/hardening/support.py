"""Helpers of the hardening suite: real wheels on disk, twine's own upload code, raw HTTP,
and read-only looks at the live server's database and bucket.

The live server is the end-to-end harness's gunicorn (tests/e2e/harness.py); everything
here talks to it the way a client or an operator would, or reads its database with plain
SQL to check invariants afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.distributions import make_sdist, make_wheel

# --- distributions on disk ------------------------------------------------------------


def write_wheel(folder: Path, name: str, version: str, **kwargs: Any) -> Path:
    filename, data = make_wheel(name, version, **kwargs)
    return _write(folder, filename, data, kwargs)


def write_sdist(folder: Path, name: str, version: str, **kwargs: Any) -> Path:
    filename, data = make_sdist(name, version, **kwargs)
    return _write(folder, filename, data, kwargs)


def _write(folder: Path, filename: str, data: bytes, kwargs: dict) -> Path:
    # Variants of one filename (different bytes) live in folders of their own.
    flavour = hashlib.sha256(data).hexdigest()[:12] if kwargs else "plain"
    target = folder / flavour / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- uploading with twine's own code ----------------------------------------------------------


class TwineUpload:
    """One upload prepared by twine (`Repository` + `PackageFile`), sent when `send()` runs.

    Preparing first lets many threads send at the same moment (a barrier), as a CI
    matrix does, while the multipart body is exactly what `twine upload` streams.
    """

    def __init__(self, repository_url: str, path: Path, *, username: str, password: str):
        from twine.package import PackageFile
        from twine.repository import Repository

        self.path = path
        self.repository = Repository(repository_url, username, password, disable_progress_bar=True)
        self.package = PackageFile.from_filename(str(path), comment=None)

    def send(self) -> requests.Response:
        try:
            return self.repository.upload(self.package)
        finally:
            self.repository.close()


def at_once(calls: Iterable[Callable[[], Any]]) -> list[Any]:
    """Run the callables in threads released together by a barrier; results (or the
    exception raised) in order."""
    calls = list(calls)
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=60)
        try:
            return call()
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def status_of(result: Any) -> int | str:
    return result.status_code if isinstance(result, requests.Response) else f"{type(result).__name__}: {result}"


# --- the live server's database ------------------------------------------------------


class Sql:
    """Plain SQL on the live server's PostgreSQL database (a new connection each time,
    so a restart of the database in between is harmless)."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, query: str, *params: Any) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def value(self, query: str, *params: Any) -> Any:
        rows = self.rows(query, *params)
        return rows[0][0] if rows else None

    # What tests ask most often.

    def project_ids(self, normalized: str) -> list[int]:
        return [r[0] for r in self.rows("SELECT id FROM releases_project WHERE normalized_name = %s", normalized)]

    def releases(self, normalized: str) -> list[tuple]:
        """(id, version, published, draft_token_hash) of each release of the project."""
        return self.rows(
            "SELECT r.id, r.version, r.published, r.draft_token_hash FROM releases_release r "
            "JOIN releases_project p ON p.id = r.project_id WHERE p.normalized_name = %s ORDER BY r.id",
            normalized,
        )

    def files(self, normalized: str) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT f.filename, f.path, f.sha256_digest, f.blake2_256_digest, f.md5_digest, f.size, "
            "r.version, r.published IS NULL FROM releases_file f JOIN releases_release r ON r.id = f.release_id "
            "JOIN releases_project p ON p.id = r.project_id WHERE p.normalized_name = %s ORDER BY f.filename",
            normalized,
        )
        keys = ("filename", "path", "sha256", "blake2_256", "md5", "size", "version", "draft")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def roles(self, normalized: str) -> list[tuple[str, str]]:
        return self.rows(
            "SELECT u.username, ro.role FROM releases_role ro JOIN auth_user u ON u.id = ro.user_id "
            "JOIN releases_project p ON p.id = ro.project_id WHERE p.normalized_name = %s ORDER BY u.username",
            normalized,
        )

    def publication_violations(self) -> list[str]:
        """Every way the database could show a half-published release or a visible draft."""
        problems = []
        for (filename,) in self.rows(
            "SELECT f.filename FROM releases_file f JOIN releases_release r ON r.id = f.release_id "
            "JOIN releases_project p ON p.id = r.project_id WHERE r.published IS NOT NULL AND NOT EXISTS ("
            "  SELECT 1 FROM releases_journalentry j WHERE j.name = p.normalized_name AND j.version = r.version"
            "  AND j.action = 'add ' || f.packagetype || ' file ' || f.filename)"
        ):
            problems.append(f"published file {filename} has no journal entry")
        for (filename,) in self.rows(
            "SELECT f.filename FROM releases_file f JOIN releases_release r ON r.id = f.release_id "
            "WHERE r.published IS NOT NULL AND NOT EXISTS ("
            "  SELECT 1 FROM releases_burnedfilename b WHERE b.filename = f.filename)"
        ):
            problems.append(f"published file {filename} is not burned")
        for name, version in self.rows(
            "SELECT p.normalized_name, r.version FROM releases_release r JOIN releases_project p ON p.id = r.project_id "
            "WHERE r.published IS NOT NULL AND NOT EXISTS (SELECT 1 FROM releases_journalentry j "
            "  WHERE j.name = p.normalized_name AND j.version = r.version AND j.action = 'new release')"
        ):
            problems.append(f"published release {name} {version} has no 'new release' journal entry")
        for filename, action in self.rows(
            "SELECT f.filename, j.action FROM releases_file f JOIN releases_release r ON r.id = f.release_id "
            "JOIN releases_project p ON p.id = r.project_id JOIN releases_journalentry j ON j.name = p.normalized_name "
            "AND j.version = r.version WHERE r.published IS NULL"
        ):
            problems.append(f"draft file {filename} shares a journal entry with its version: {action}")
        for (filename,) in self.rows(
            "SELECT f.filename FROM releases_file f JOIN releases_release r ON r.id = f.release_id "
            "WHERE r.published IS NULL AND EXISTS (SELECT 1 FROM releases_burnedfilename b WHERE b.filename = f.filename)"
        ):
            problems.append(f"draft file {filename} is burned (was it public?)")
        return problems


# --- storage ------------------------------------------------------------------------------


def bucket_client(env: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=env.get("AWS_S3_ENDPOINT_URL") or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region_name=env.get("AWS_S3_REGION_NAME") or None,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=5),
    )


class Bucket:
    """The live server's own bucket, read and changed directly (as an operator's mistake would)."""

    def __init__(self, env: dict[str, str]):
        self.name = env["AWS_STORAGE_BUCKET_NAME"]
        self.client = bucket_client(env)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def keys(self) -> list[str]:
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys


def digests(data: bytes) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "blake2_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


@dataclass
class StorageCheck:
    orphans: list[str]
    missing: list[str]
    output: str

    def about(self, fragment: str) -> StorageCheck:
        """Only the findings whose key or line mentions `fragment` (e.g. a test's project)."""
        return StorageCheck(
            orphans=[k for k in self.orphans if fragment in k],
            missing=[m for m in self.missing if fragment in m],
            output=self.output,
        )


def check_storage(manage, *args: str) -> StorageCheck:
    output = manage("check_storage", "--grace-minutes", "0", *args).stdout
    orphans = re.findall(r"^orphan object: (\S+)$", output, re.MULTILINE)
    missing = re.findall(r"^missing object for .*$", output, re.MULTILINE)
    return StorageCheck(orphans=orphans, missing=missing, output=output)


# --- raw HTTP -------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int | None  # None: the server closed the connection without an answer
    head: bytes
    body: bytes
    seconds: float


def raw_request(
    url: str, data: bytes, *, half_close: bool = False, timeout: float = 15.0, pause: float = 0.0
) -> RawResponse:
    """Send exactly `data` on a new connection and read the answer until the server closes.

    `half_close` shuts our sending side after the data (the client is done, or gone),
    so a server waiting for more body sees end-of-file. Every read is bounded by `timeout`.
    """
    host, port = re.match(r"^http://([^:/]+):(\d+)", url).groups()
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)  # may fail when the server answered and closed early
        if pause:
            time.sleep(pause)
        if half_close:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:
                raise AssertionError(f"no answer within {timeout:.0f}s: the worker hangs") from None
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return RawResponse(
        status=int(match.group(1)) if match else None, head=head, body=body, seconds=time.monotonic() - started
    )


def http_request(
    method: str, path: str, host: str, headers: dict[str, str | bytes] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one HTTP/1.1 request; header values may be raw bytes (non-UTF-8)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {host}".encode(), b"Connection: close"]
    for key, value in (headers or {}).items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        lines.append(key.encode() + b": " + raw)
    if body and not any(k.lower() == "content-length" for k in headers or {}):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --- multipart bodies with raw bytes ------------------------------------------------------

BOUNDARY = b"hardeningBoundary7MA4YWxkTrZu0gW"


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def multipart_body(
    fields: list[tuple[str | bytes, str | bytes]],
    file: tuple[str | bytes, bytes] | None = None,
    *,
    boundary: bytes = BOUNDARY,
) -> bytes:
    """A multipart/form-data body whose names and values are sent byte for byte
    (NUL, invalid UTF-8 and CRLF included), the file in the `content` part like twine."""
    lines = []
    for name, value in fields:
        lines += [
            b"--" + boundary,
            b'Content-Disposition: form-data; name="' + as_bytes(name) + b'"',
            b"",
            as_bytes(value),
        ]
    if file is not None:
        filename, data = file
        lines += [
            b"--" + boundary,
            b'Content-Disposition: form-data; name="content"; filename="' + as_bytes(filename) + b'"',
            b"Content-Type: application/octet-stream",
            b"",
            data,
        ]
    lines += [b"--" + boundary + b"--", b""]
    return b"\r\n".join(lines)


def multipart_type(boundary: bytes = BOUNDARY) -> str:
    return "multipart/form-data; boundary=" + boundary.decode("latin-1")


def form_of(fields: dict[str, str]) -> list[tuple[str, str]]:
    return list(fields.items())
