"""Fixtures of the hardening suite.

In-process tests use pytest-django's client and the people of tests/conftest.py (alice
owns `acme`, bob maintains it, charlie has no role, staff is an admin).

Tests that use `server` (marked e2e) run against the end-to-end harness's real server (tests/e2e): the
project's gunicorn config with three sync workers, on a PostgreSQL database of its own
and, here, an S3 bucket of its own, so `check_storage` sees only this suite's objects.
They need the PostgreSQL and SeaweedFS that `scripts/testenv.py` (`make test`) starts,
stops and restarts, and skip only when not running under it (under CI they fail instead).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (  # noqa: F401 - fixtures and the report hook, reused as they are
    accounts,
    alice_token,
    charlie_token,
    manage,
    pytest_runtest_makereport,
    server,
    storage,
)
from tests.e2e.harness import PINNED_SETTINGS, Environment, LiveServer, Storage, e2e_database, run
from tests.hardening.support import Bucket, Sql, bucket_client
from tests.support.services import unavailable

UNDER_TESTENV = bool(os.environ.get("PYPIDRAFT_TEST_SERVICES"))


def pytest_collection_modifyitems(config, items):
    """Tests here that use the live server are end-to-end tests, like tests/e2e's."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents and "e2e_environment" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_environment(tmp_path_factory) -> Iterator[Environment]:
    """The harness's server environment, with a bucket of its own and INFO logging."""
    if not UNDER_TESTENV:
        unavailable("needs PostgreSQL and SeaweedFS from scripts/testenv.py (make test)", os.environ)
    if os.environ.get("PYPIDRAFT_STORAGE") != "s3":
        pytest.fail("scripts/testenv.py should configure PYPIDRAFT_STORAGE=s3")
    tmp = tmp_path_factory.mktemp("hardening-server")
    with e2e_database(tmp) as database_url:
        env = dict(os.environ)
        env.update(PINNED_SETTINGS)
        env["DATABASE_URL"] = database_url
        env["SECRET_KEY"] = "hardening-" + secrets.token_urlsafe(32)
        env["AWS_STORAGE_BUCKET_NAME"] = f"pypidraft-hardening-{secrets.token_hex(4)}"
        # Every log line the app writes, so the log scan of test_secrets sees the most.
        env["LOG_LEVEL"] = "INFO"
        # Hostile-input tests send many bad credentials from 127.0.0.1; the per-address
        # limit is tested in process, the per-account one on the server with its own account.
        env["PYPIDRAFT_AUTH_FAILURES_PER_IP"] = "1000"
        bucket_client(env).create_bucket(Bucket=env["AWS_STORAGE_BUCKET_NAME"])
        run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
        yield Environment(env=env, storage=Storage(kind="s3", media_root=None, env=env))


@pytest.fixture(scope="session")
def sql(e2e_environment) -> Sql:
    return Sql(e2e_environment.env["DATABASE_URL"])


@pytest.fixture(scope="session")
def bucket(e2e_environment) -> Bucket:
    return Bucket(e2e_environment.env)


@pytest.fixture
def dists(tmp_path) -> Path:
    """A folder for the distributions a test builds."""
    folder = tmp_path / "dists"
    folder.mkdir()
    return folder


class ServerLog:
    """The part of the server's log written during one test."""

    def __init__(self, live: LiveServer):
        self.server = live
        self.start = live.log_path.stat().st_size

    def text(self) -> str:
        with open(self.server.log_path, "rb") as fh:
            fh.seek(self.start)
            return fh.read().decode("utf-8", "replace")

    def server_errors(self, *, allowed: tuple[int, ...] = ()) -> list[str]:
        """Tracebacks and 5xx access lines (other than `allowed` statuses)."""
        problems = []
        for line in self.text().splitlines():
            if "Traceback (most recent call last)" in line or "Internal Server Error" in line:
                problems.append(line)
                continue
            match = re.search(r'" (5\d\d) ', line)
            if match and int(match.group(1)) not in allowed:
                problems.append(line)
        return problems


@pytest.fixture
def server_log(request) -> ServerLog:
    return ServerLog(request.getfixturevalue("server"))
