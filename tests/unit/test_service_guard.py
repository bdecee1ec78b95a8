"""Under CI and scripts/testenv.py a run without PostgreSQL and S3 fails; it never skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import is_service_skip, missing_services, services_required, unavailable

REPO = Path(__file__).resolve().parents[2]
TESTENV = {"DATABASE_URL": "postgres://pypidraft@127.0.0.1:5432/pypidraft", "PYPIDRAFT_STORAGE": "s3"}


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"PYPIDRAFT_TEST_SERVICES": "/tmp/x/services.json"}, True),
        ({"CI": ""}, False),
    ],
)
def test_ci_and_testenv_runs_require_the_services(environ, required):
    assert services_required(environ) is required


def test_postgres_and_s3_are_all_a_run_needs():
    assert missing_services(TESTENV) == []
    assert missing_services({**TESTENV, "DATABASE_URL": "postgresql+psycopg://u@h/db"}) == []


@pytest.mark.parametrize(
    ("environ", "lacking"),
    [
        ({}, ["DATABASE_URL", "PYPIDRAFT_STORAGE"]),
        ({**TESTENV, "DATABASE_URL": "sqlite:///db.sqlite3"}, ["DATABASE_URL"]),
        ({**TESTENV, "PYPIDRAFT_STORAGE": "filesystem"}, ["PYPIDRAFT_STORAGE"]),
    ],
)
def test_a_missing_service_is_named(environ, lacking):
    missing = missing_services(environ)
    assert len(missing) == len(lacking)
    for variable, message in zip(lacking, missing, strict=True):
        assert message.startswith(variable)


def test_a_test_without_its_service_fails_under_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="must have PostgreSQL and S3"):
        unavailable("needs PostgreSQL", {"CI": "1"})
    with pytest.raises(pytest.skip.Exception, match="needs PostgreSQL"):
        unavailable("needs PostgreSQL", {})


@pytest.mark.parametrize(
    "reason",
    [
        "PostgreSQL's plans",
        "advisory locks",
        "runs where the suite runs against S3 (make test)",
        "needs PostgreSQL and SeaweedFS from scripts/testenv.py (make test)",
        "the e2e harness cannot make a database of its own for DATABASE_URL scheme 'mysql'",
    ],
)
def test_skips_for_want_of_a_service_are_recognised(reason):
    assert is_service_skip(reason)


def test_other_skips_are_left_alone():
    assert not is_service_skip("chromium is not installed")


# --- the hooks, in a pytest run of their own --------------------------------------------

SAMPLE = """
import pytest


def test_skips_without_postgres():
    # As `if connection.vendor != "postgresql": pytest.skip(...)` does on SQLite.
    pytest.skip("PostgreSQL's plans")


def test_skips_for_another_reason():
    pytest.skip("not about the services")


@pytest.mark.requires_postgres
def test_marked():
    pass
"""


def run_pytest(tmp_path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYPIDRAFT_TEST_SERVICES", "DATABASE_URL")}
    env.update({"SECRET_KEY": "guard-test", "DEBUG": "1", "PYPIDRAFT_STORAGE": "filesystem", **environ})
    pytest_args = ["-p", "tests.support.services", "-c", str(REPO / "pytest.ini"), "--rootdir", str(tmp_path)]
    pytest_args += ["-p", "no:cacheprovider", "-q", "-rfs", str(tmp_path / "test_sample.py")]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_ci_run_without_postgres_and_s3_fails_at_once(tmp_path):
    result = run_pytest(tmp_path, {"CI": "1", "DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite3")})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "DATABASE_URL is not PostgreSQL" in result.stdout + result.stderr
    assert "PYPIDRAFT_STORAGE is not s3" in result.stdout + result.stderr


def test_a_local_run_skips_what_needs_postgres(tmp_path):
    result = run_pytest(tmp_path, {"DATABASE_URL": "sqlite:///" + str(tmp_path / "db.sqlite3")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 skipped" in result.stdout


def test_under_ci_a_skip_for_want_of_postgres_is_a_failure(tmp_path):
    # The environment names PostgreSQL and S3, so the run starts (no test connects); a skip
    # for want of PostgreSQL that still happens is reported as a failure.
    result = run_pytest(tmp_path, {"CI": "1", **TESTENV, "PYPIDRAFT_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "x"})
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "1 failed, 1 passed, 1 skipped" in result.stdout
    assert "FAILED" in result.stdout and "test_skips_without_postgres" in result.stdout
