"""The README's commands run as written, in order, against `make run` itself.

Every ```sh block of README.md runs, except a block preceded by a `<!-- readme-test: skip
(why) -->` line. The block that is just `make run` starts the server the way a person does
(in the background here), on a free port and with a temporary var/ folder; the other
blocks run in one bash script, from the clone, with a fresh home directory and none of the
test run's settings (make run uses SQLite and local files), so `make token`, manage.py and
the server agree only if the settings make them agree. At the end one SIGTERM to `make
run` must stop everything.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import BIN, REPO_ROOT, free_port

README = REPO_ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\b")
FENCE = re.compile(r"^```sh\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
README_URL = "http://127.0.0.1:8000"
# The test run's services and settings: `make run` has none of them.
DROPPED = ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
DROPPED_PREFIXES = ("PYPIDRAFT_", "AWS_", "PIP_", "UV_", "TWINE_", "MAKE", "MFLAGS", "XDG_", "CONDA_")


def readme_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of each ```sh block that is not marked to skip."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if not SKIP.search(before):
            blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


def user_environment(home: Path, var: Path, port: int) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key not in DROPPED and not key.startswith(DROPPED_PREFIXES)
    }
    env.update(
        HOME=str(home),
        # twine and uv from the project's tools; python3 and pip as a person has them.
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        PYPIDRAFT_VAR_DIR=str(var),
        PYPIDRAFT_BIND=f"127.0.0.1:{port}",
        PYPIDRAFT_WORKERS="2",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        COLUMNS="4000",
        NO_COLOR="1",
    )
    return env


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited with {process.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.fail(f"make run did not serve {url} in {timeout:.0f}s:\n{log.read_text()}", pytrace=False)


def test_readme_blocks_are_found():
    blocks = readme_blocks(README.read_text())
    assert blocks[0][1].strip() == "make run", "the first command of the README starts the server"
    assert len(blocks) >= 8


def test_the_readme_runs_as_written(tmp_path):
    blocks = readme_blocks(README.read_text())
    home, var = tmp_path / "home", tmp_path / "var"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = user_environment(home, var, port)
    log = tmp_path / "make-run.log"

    # 1. `make run`, as a person starts it (its own session only so that nothing can outlive the test).
    assert blocks[0][1].strip() == "make run"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["make", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for(f"{url}/simple/", server, log)
        banner = log.read_text()
        password = re.search(r"Created admin account 'admin' with password: (\S+)", banner)
        assert password, banner
        assert f"Sign in:    {url}/accounts/login/" in banner
        assert "Ctrl-C" in banner

        # 2. Sign in as the printed admin; no debug pages, our own 404.
        session = requests.Session()
        session.get(f"{url}/accounts/login/", timeout=10)
        signed_in = session.post(
            f"{url}/accounts/login/",
            data={
                "username": "admin",
                "password": password.group(1),
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{url}/accounts/login/"},
            timeout=10,
        )
        assert signed_in.url == f"{url}/manage/", signed_in.text[:2000]
        missing = requests.get(f"{url}/project/acme/9.9--draft--not-a-token/", timeout=10)
        assert missing.status_code == 404
        assert "Not found" in missing.text and "URLconf" not in missing.text and "DEBUG" not in missing.text

        # 3. Every other block, in order, as one shell session of a person in the clone.
        script = ["set -euo pipefail -x"]
        for line, body in blocks[1:]:
            script.append(f": README.md line {line}")
            script.append(body.replace(README_URL, url))
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout}\n--- make run ---\n{log.read_text()[-5000:]}"
        out = result.stdout
        assert re.search(r"Created account 'alice' with password: \S+", out), out
        # The README shows this answer of the server: it must stay what the server says.
        assert "uploaded to acme 0.1.0, which is a draft: it is not public until you publish it." in out, out
        assert re.search(
            r"^DRAFT: acme-0\.4\.0-py3-none-any\.whl uploaded to acme 0\.4\.0, which is a draft", out, re.M
        )
        assert re.search(r"^Draft index: http://127\.0\.0\.1:\d+/simple/draft/\w+/$", out, re.M), out
        assert re.search(r"^0\.3\.0 draft http", out, re.MULTILINE), out
        assert "Published acme 0.3.0." in out and "Discarded the draft acme 0.4.0." in out, out

        # What the README promised, seen from outside.
        public = requests.get(f"{url}/pypi/acme/json", timeout=10).json()
        assert sorted(public["releases"]) == ["0.1.0", "0.2.0", "0.3.0"]
        # The server and the commands shared the temporary var/ folder, not the clone's.
        assert (var / "db.sqlite3").is_file() and (var / "secret_key").is_file()
        assert any(path.name.startswith("acme-") for path in (var / "packages").rglob("*"))
    finally:
        # 4. One signal to `make run` stops the server and its workers.
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            try:
                os.killpg(server.pid, 0)
            except ProcessLookupError:
                stopped = True
            else:
                stopped = False
                os.killpg(server.pid, signal.SIGKILL)
    assert stopped, f"processes of make run outlived one SIGTERM:\n{log.read_text()[-3000:]}"
    assert "Shutting down: Master" in log.read_text()
