"""Whether this run must have PostgreSQL and S3, and what happens to a test that needs them.

Locally a test that needs PostgreSQL or S3 skips when the run has neither (SQLite and the
filesystem are the defaults). Under CI, or under scripts/testenv.py (which sets
PYPIDRAFT_TEST_SERVICES), the run must have both: a missing service fails the run at the
start, and a test that would skip for want of one fails instead, so a green CI run never
means "the PostgreSQL tests did not run".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import pytest

POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql", "postgis")

# Reasons of skips that mean "this run lacks PostgreSQL or S3" (including the ones in test
# files whose skips name only the feature they need: advisory locks, query plans).
SERVICE_SKIP = re.compile(
    r"postgres|\bs3\b|seaweedfs|testenv|make test|advisory lock|query plan|database_url|vendor",
    re.IGNORECASE,
)


def services_required(environ: Mapping[str, str]) -> bool:
    """CI and scripts/testenv.py runs must have PostgreSQL and S3."""
    return bool(environ.get("CI") or environ.get("PYPIDRAFT_TEST_SERVICES"))


def missing_services(environ: Mapping[str, str]) -> list[str]:
    """What this environment lacks of PostgreSQL (DATABASE_URL) and S3 (PYPIDRAFT_STORAGE)."""
    missing = []
    scheme = urlsplit(environ.get("DATABASE_URL", "")).scheme.split("+")[0].lower()
    if scheme not in POSTGRES_SCHEMES:
        missing.append(f"DATABASE_URL is not PostgreSQL ({scheme or 'unset: SQLite'})")
    storage = environ.get("PYPIDRAFT_STORAGE", "")
    if storage != "s3":
        missing.append(f"PYPIDRAFT_STORAGE is not s3 ({storage or 'unset: filesystem'})")
    return missing


def unavailable(reason: str, environ: Mapping[str, str]) -> None:
    """A test cannot run here for want of PostgreSQL or S3: fail under CI, else skip."""
    if services_required(environ):
        pytest.fail(f"{reason}; this run must have PostgreSQL and S3 (CI or scripts/testenv.py)", pytrace=False)
    pytest.skip(reason)


def is_service_skip(reason: str) -> bool:
    return bool(SERVICE_SKIP.search(reason))


# --- the hooks (registered by tests/conftest.py; `-p tests.support.services` loads them alone)


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_postgres: needs PostgreSQL (fails under CI without it, else skips)")
    config.addinivalue_line("markers", "requires_s3: needs the S3 storage (fails under CI without it, else skips)")


def pytest_sessionstart(session):
    if services_required(os.environ) and (missing := missing_services(os.environ)):
        pytest.exit(
            "CI and scripts/testenv.py runs need PostgreSQL and S3: " + "; ".join(missing),
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            unavailable(f"needs PostgreSQL, not {connection.vendor}", os.environ)
    if item.get_closest_marker("requires_s3"):
        from django.conf import settings

        if settings.PYPIDRAFT_STORAGE != "s3":
            unavailable(f"needs S3 storage, not {settings.PYPIDRAFT_STORAGE}", os.environ)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a skip for want of PostgreSQL or S3 (`if connection.vendor != ...:
    pytest.skip(...)` in a test, a skipif) is a failure: the run was meant to have them."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and services_required(os.environ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if is_service_skip(reason):
            report.outcome = "failed"
            report.longrepr = f"skipped for want of PostgreSQL or S3, in a run that must have both: {reason}"
