"""Fixtures of the end-to-end suite: one live server per session, real clients.

See tests/e2e/harness.py for how the server, its database and the clients are set up.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.harness import (
    OUTSIDER,
    OWNER,
    PASSWORD,
    PINNED_SETTINGS,
    RUNNING,
    Builder,
    Environment,
    Installers,
    LiveServer,
    Manage,
    Storage,
    Twine,
    e2e_database,
    live_server,
    run,
)


@pytest.fixture(scope="session")
def e2e_environment(tmp_path_factory) -> Iterator[Environment]:
    tmp = tmp_path_factory.mktemp("e2e-server")
    with e2e_database(tmp) as database_url:
        env = dict(os.environ)
        env.update(PINNED_SETTINGS)
        env["DATABASE_URL"] = database_url
        env.setdefault("SECRET_KEY", "e2e-" + secrets.token_urlsafe(32))
        kind = env.get("PYPIDRAFT_STORAGE") or "filesystem"
        media_root = None
        if kind != "s3":
            media_root = tmp / "packages"
            media_root.mkdir()
            env["PYPIDRAFT_MEDIA_ROOT"] = str(media_root)
        run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env)
        yield Environment(env=env, storage=Storage(kind=kind, media_root=media_root, env=env))


@pytest.fixture(scope="session")
def storage(e2e_environment) -> Storage:
    return e2e_environment.storage


@pytest.fixture(scope="session")
def manage(e2e_environment) -> Manage:
    return Manage(e2e_environment.env)


@pytest.fixture(scope="session")
def accounts(manage) -> dict[str, str]:
    """alice uploads and owns projects; charlie has no role anywhere. Same password."""
    manage.shell(
        "import os\n"
        "from django.contrib.auth.models import User\n"
        "for name in os.environ['E2E_NAMES'].split():\n"
        "    User.objects.create_user(name, name + '@example.org', os.environ['E2E_PASSWORD'])\n",
        names=f"{OWNER} {OUTSIDER}",
        password=PASSWORD,
    )
    return {OWNER: PASSWORD, OUTSIDER: PASSWORD}


@pytest.fixture(scope="session")
def alice_token(manage, accounts) -> str:
    """An API token of alice for all her projects."""
    token = manage("create_api_token", OWNER, "--description", "e2e").stdout.strip().splitlines()[-1]
    assert token and " " not in token, token
    return token


@pytest.fixture(scope="session")
def charlie_token(manage, accounts) -> str:
    return manage("create_api_token", OUTSIDER, "--description", "e2e").stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def server(e2e_environment, tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(e2e_environment, tmp_path_factory.mktemp("e2e-gunicorn")) as server:
        yield server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing e2e test shows the end of the server's log next to its traceback."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call" and RUNNING:
        report.sections.append(("gunicorn log (last lines)", RUNNING[-1].log_tail()))


@pytest.fixture(scope="session")
def builder(tmp_path_factory) -> Builder:
    return Builder(tmp_path_factory.mktemp("e2e-builds"))


@pytest.fixture(scope="session")
def twine() -> Twine:
    return Twine()


@pytest.fixture(scope="session")
def installers(tmp_path_factory) -> Installers:
    return Installers(tmp_path_factory.mktemp("e2e-venvs"))
