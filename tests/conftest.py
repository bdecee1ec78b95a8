"""Shared fixtures: people who read like the domain, and an upload helper.

alice owns projects, bob maintains some, charlie has no role anywhere, and staff is an
admin. Tests against the storage use whatever the environment configures (SeaweedFS
under `make test`).
"""

from __future__ import annotations

import base64
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from releases.models import Project
from tests.support.distributions import make_wheel, upload_fields
from tests.support.factories import make_project

# PostgreSQL and S3 are required under CI and scripts/testenv.py: the hooks that fail the
# run, or a test, without them live in tests/support/services.py.
from tests.support.services import (  # noqa: F401 - pytest hooks, registered by this import
    pytest_configure,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_sessionstart,
)

PASSWORD = "correct horse battery staple"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    # PBKDF2 costs ~0.3 s a check by design; tests that are not about hashing need not pay it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_package_storage(settings, tmp_path):
    """Each test gets its own storage root (a key prefix on S3), since database rows roll
    back after a test but stored objects do not."""
    packages = dict(settings.STORAGES["packages"])
    options = dict(packages.get("OPTIONS", {}))
    if settings.PYPIDRAFT_STORAGE == "s3":
        options["location"] = f"tests/{uuid.uuid4().hex}"
    else:
        options["location"] = str(tmp_path / "packages")
    packages["OPTIONS"] = options
    settings.STORAGES = {**settings.STORAGES, "packages": packages}


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", "alice@example.org", PASSWORD)


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", "bob@example.org", PASSWORD)


@pytest.fixture
def charlie(db) -> User:
    return User.objects.create_user("charlie", "charlie@example.org", PASSWORD)


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser("staff", "staff@example.org", PASSWORD)


@pytest.fixture
def project(alice, bob) -> Project:
    """'acme', owned by alice and maintained by bob."""
    return make_project("acme", owner=alice, maintainers=[bob])


class Uploader:
    """Posts legacy uploads the way twine does (multipart, Basic auth)."""

    def __init__(self, client: Client):
        self.client = client

    def post(
        self,
        fields: dict,
        *,
        filename: str | None,
        data: bytes | None,
        user: str = "alice",
        password: str = PASSWORD,
        path: str = "/legacy/",
        headers: dict | None = None,
        auth: str | None = None,
    ):
        body = encode_multipart(BOUNDARY, fields)
        if filename is not None:
            body = (
                body[: -len(f"--{BOUNDARY}--\r\n")]
                + (
                    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                + data
                + f"\r\n--{BOUNDARY}--\r\n".encode()
            )
        extra = {"HTTP_AUTHORIZATION": auth if auth is not None else basic(user, password)}
        for key, value in (headers or {}).items():
            extra["HTTP_" + key.upper().replace("-", "_")] = value
        return self.client.generic("POST", path, body, content_type=MULTIPART_CONTENT, **extra)

    def upload(self, name: str = "acme", version: str = "1.0", *, wheel: tuple[str, bytes] | None = None, **kwargs):
        filename, data = wheel or make_wheel(name, version)
        return self.post(upload_fields(name, version, filename, data), filename=filename, data=data, **kwargs)


@pytest.fixture
def uploader(client) -> Uploader:
    return Uploader(client)
