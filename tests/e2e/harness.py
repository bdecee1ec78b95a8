"""End-to-end harness: a real gunicorn server on its own database, driven by real clients.

The server runs `pypidraft.wsgi` in a subprocess against a database of its own (a fresh
PostgreSQL database next to the one in DATABASE_URL, or a SQLite file when DATABASE_URL
is unset), never pytest-django's test database, which lives inside a transaction. State is
set up the way an operator or a CI job would: through `manage.py` subprocesses and HTTP.
Nothing here touches the ORM in-process.

Packages are built for real with `uv build` (hatchling), uploaded with twine or
`uv publish`, and installed with pip and uv into fresh virtual environments, isolated
from the machine's pip and uv configuration.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import pytest
import requests

from tests.support.services import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "e2e correct horse battery staple"
OWNER = "alice"
OUTSIDER = "charlie"
SERVER_START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 180

JSON_V1 = "application/vnd.pypi.simple.v1+json"

# The server and manage.py read these; the outer environment must not change them.
PINNED_SETTINGS = {
    "DEBUG": "0",
    "PYPIDRAFT_HTTPS": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PYPIDRAFT_DRAFT_TTL_DAYS": "30",
    "PYPIDRAFT_MAX_DRAFTS_PER_PROJECT": "1",
    "PYTHONUNBUFFERED": "1",
}


def tool(name: str) -> str:
    """An executable of the project's virtualenv, else from PATH."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (looked in {BIN} and on PATH)")
    return found


def client_env(**extra: str) -> dict[str, str]:
    """The environment for twine, pip and uv: none of the machine's index configuration."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "TWINE_", "VIRTUAL_ENV", "CONDA_"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_NO_PROGRESS="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        # rich (twine's console) must not wrap long URLs in the response bodies it prints.
        COLUMNS="4000",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run(
    argv: list[str], *, env: dict[str, str], cwd: Path | None = None, check: bool = True, timeout: int = COMMAND_TIMEOUT
):
    """Run a command; combined output in `.stdout`. On failure with check, fail with the output."""
    result = subprocess.run(
        argv,
        cwd=cwd or REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(f"command failed ({result.returncode}): {' '.join(argv)}\n{result.stdout}", pytrace=False)
    return result


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unique_name(slug: str) -> str:
    """A project name of its own for each test, so tests never collide in the shared database."""
    return f"e2e-{slug}-{uuid.uuid4().hex[:8]}"


# --- the database and storage of the server ----------------------------------------------


@contextmanager
def e2e_database(tmp: Path) -> Iterator[str]:
    """A database URL of our own: a new PostgreSQL database, or a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        import psycopg
        from psycopg import sql

        name = f"pypidraft_e2e_{secrets.token_hex(6)}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urlunsplit(parts._replace(path="/" + name))
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    elif not url or parts.scheme == "sqlite":
        yield f"sqlite:///{tmp / 'e2e.sqlite3'}"
    else:
        unavailable(
            f"the e2e harness cannot make a database of its own for DATABASE_URL scheme {parts.scheme!r}", os.environ
        )


@dataclass
class Storage:
    """Where the server keeps package files: S3 (as configured) or a local folder."""

    kind: str
    media_root: Path | None
    env: dict[str, str]

    def exists(self, key: str) -> bool:
        if self.kind == "s3":
            import botocore.exceptions

            try:
                self._s3().head_object(Bucket=self.env["AWS_STORAGE_BUCKET_NAME"], Key=key)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return True
        return (self.media_root / key).is_file()

    def _s3(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.env.get("AWS_S3_ENDPOINT_URL") or None,
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY") or None,
            region_name=self.env.get("AWS_S3_REGION_NAME") or None,
        )


def storage_key(file_url: str) -> str:
    """The storage key of a file from its URL: what follows `/packages/`."""
    path = urlsplit(file_url).path
    marker = "/packages/"
    assert marker in path, file_url
    return path[path.index(marker) + len(marker) :]


@dataclass
class Environment:
    """What the server and manage.py run with."""

    env: dict[str, str]
    storage: Storage


# --- management commands ----------------------------------------------------------------


class Manage:
    """`python manage.py ...` against the server's database, as an operator runs it."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([sys.executable, "manage.py", *args], env=self.env, check=check)

    def shell(self, code: str, **variables: str) -> str:
        """Run Python in `manage.py shell`; `variables` arrive as E2E_<NAME> environment variables."""
        env = dict(self.env, **{f"E2E_{key.upper()}": value for key, value in variables.items()})
        result = run([sys.executable, "manage.py", "shell", "--no-imports", "-c", code], env=env)
        return result.stdout.strip()


# --- the live server --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    log_path: Path
    process: subprocess.Popen
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def simple(self) -> str:
        return f"{self.url}/simple/"

    @property
    def legacy(self) -> str:
        return f"{self.url}/legacy/"

    @property
    def legacy_draft(self) -> str:
        return f"{self.url}/legacy/draft/"

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.get(urljoin(self.url + "/", path_or_url), **kwargs)

    def post(self, path_or_url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.post(urljoin(self.url + "/", path_or_url), **kwargs)

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


RUNNING: list[LiveServer] = []


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # The server runs in a session (process group) of its own that we created: its id is ours.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until_ready(server: LiveServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"gunicorn exited with {server.process.returncode} before serving:\n{server.log_tail(200)}",
                pytrace=False,
            )
        try:
            response = requests.get(server.simple, timeout=2)
            if response.status_code == 200:
                return
            last_error = f"GET /simple/ answered {response.status_code}"
        except requests.RequestException as exc:
            last_error = str(exc)
        time.sleep(0.2)
    pytest.fail(
        f"gunicorn did not serve /simple/ within {SERVER_START_TIMEOUT:.0f}s ({last_error}):\n{server.log_tail(200)}",
        pytrace=False,
    )


@contextmanager
def live_server(
    environment: Environment, tmp: Path, *, workers: int = 3, settings: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """gunicorn with the project's own settings (sync workers, the token-scrubbing access
    log) on a free port of our own, against the environment's database and storage;
    `settings`: more environment variables."""
    port = free_port()
    log_path = tmp / "gunicorn.log"
    argv = [tool("gunicorn"), "--config", str(REPO_ROOT / "pypidraft" / "gunicorn_conf.py")]
    argv += [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        "--chdir",
        str(REPO_ROOT),
        # Not the shared ~/.gunicorn/gunicorn.ctl: other servers on this machine own it.
        "--no-control-socket",
        "pypidraft.wsgi:application",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**environment.env, **(settings or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log_path=log_path, process=process)
    try:
        wait_until_ready(server)
        RUNNING.append(server)
        yield server
    finally:
        if server in RUNNING:
            RUNNING.remove(server)
        server.session.close()
        stop_server(process)


# --- building real distributions ----------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """A wheel and an sdist built by `uv build`; the module carries __version__ and FLAVOR."""

    name: str
    version: str
    flavor: str
    wheel: Path
    sdist: Path

    @property
    def module(self) -> str:
        return module_name(self.name)

    @property
    def files(self) -> list[Path]:
        return [self.wheel, self.sdist]


def module_name(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "{version}"
description = "An end-to-end test package"
requires-python = ">=3.8"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]
"""


class Builder:
    """Builds packages once per (name, version, flavor) for the whole session."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[tuple[str, str, str], Dist] = {}
        self.env = client_env(UV_CACHE_DIR=str(root / "uv-cache"))
        self.build_python = self._build_environment()

    def _build_environment(self) -> str | None:
        """A venv with hatchling, so each build skips creating an isolated environment."""
        venv = self.root / "build-venv"
        uv = tool("uv")
        created = run([uv, "venv", "-q", "--python", sys.executable, str(venv)], env=self.env, check=False)
        if created.returncode != 0:
            return None
        python = str(venv / "bin" / "python")
        installed = run([uv, "pip", "install", "-q", "--python", python, "hatchling"], env=self.env, check=False)
        return python if installed.returncode == 0 else None

    def build(self, name: str, version: str, flavor: str = "original") -> Dist:
        key = (name, version, flavor)
        if key not in self.cache:
            self.cache[key] = self._build(name, version, flavor)
        return self.cache[key]

    def _build(self, name: str, version: str, flavor: str) -> Dist:
        module = module_name(name)
        base = self.root / f"{module}-{version}-{flavor}"
        source = base / "src"
        package = source / "src" / module
        package.mkdir(parents=True)
        (source / "pyproject.toml").write_text(PYPROJECT.format(name=name, version=version, module=module))
        (package / "__init__.py").write_text(f'__version__ = "{version}"\nFLAVOR = "{flavor}"\n')
        out = base / "dist"
        argv = [tool("uv"), "build", "-q", "--out-dir", str(out)]
        if self.build_python:
            argv += ["--no-build-isolation", "--python", self.build_python]
        run(argv, env=self.env, cwd=source)
        wheels = list(out.glob("*.whl"))
        sdists = list(out.glob("*.tar.gz"))
        assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
        return Dist(name=name, version=version, flavor=flavor, wheel=wheels[0], sdist=sdists[0])


# --- uploading ----------------------------------------------------------------------------


class Twine:
    """`twine upload`, unmodified, as a CI job runs it."""

    def upload(
        self,
        files: list[Path],
        *,
        repository_url: str,
        username: str,
        password: str,
        extra: tuple[str, ...] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        argv = [
            tool("twine"),
            "upload",
            "--repository-url",
            repository_url,
            "--username",
            username,
            "--password",
            password,
            "--non-interactive",
            "--disable-progress-bar",
            "--verbose",
            *extra,
            *[str(f) for f in files],
        ]
        return run(argv, env=client_env(), check=check)


def twine_post(
    path: Path, *, repository_url: str, username: str, password: str, headers: dict[str, str] | None = None
) -> requests.Response:
    """One upload sent by twine's own `Repository`, exactly as `twine upload` sends it.

    For what the command line hides: the raw response, and headers twine has no option for.
    """
    from twine.package import PackageFile
    from twine.repository import Repository

    repository = Repository(repository_url, username, password, disable_progress_bar=True)
    repository.session.headers.update(headers or {})
    try:
        return repository.upload(PackageFile.from_filename(str(path), comment=None))
    finally:
        repository.close()


DRAFT_INDEX = re.compile(r"Draft index:\s*(\S+)")
PREVIEW = re.compile(r"Preview:\s*(\S+)")


class DraftLinks(NamedTuple):
    index: str
    preview: str

    @property
    def token(self) -> str:
        match = re.search(r"/simple/draft/([^/]+)/", self.index)
        assert match, self.index
        return match.group(1)


def draft_links(output: str) -> DraftLinks:
    """The draft index and preview URLs from an upload response body (as twine --verbose prints it)."""
    index = DRAFT_INDEX.findall(output)
    preview = PREVIEW.findall(output)
    assert index and preview, f"no draft links in the upload response:\n{output}"
    return DraftLinks(index=index[-1], preview=preview[-1])


# --- installing ---------------------------------------------------------------------------


class Installed(NamedTuple):
    version: str
    flavor: str


class Installers:
    """pip and uv installing into fresh virtual environments, then importing the module."""

    def __init__(self, root: Path):
        self.root = root
        self.env = client_env(UV_CACHE_DIR=str(root / "uv-cache-unused"))

    def _venv(self) -> Path:
        venv = self.root / f"venv-{uuid.uuid4().hex[:8]}"
        run([tool("uv"), "venv", "-q", "--no-cache", "--python", sys.executable, str(venv)], env=self.env)
        return venv

    def pip(self, project: str, version: str, *, index_url: str, extra_index_url: str | None = None) -> Installed:
        venv = self._venv()
        argv = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--no-input",
            "--index-url",
            index_url,
        ]
        if extra_index_url:
            argv += ["--extra-index-url", extra_index_url]
        run([*argv, f"{project}=={version}"], env=self.env)
        return self._imported(venv, project)

    def uv(self, project: str, version: str, *, index_url: str, extra_index_url: str | None = None) -> Installed:
        venv = self._venv()
        argv = [
            tool("uv"),
            "pip",
            "install",
            "--no-cache",
            "--python",
            str(venv / "bin" / "python"),
            "--index-url",
            index_url,
        ]
        if extra_index_url:
            argv += ["--extra-index-url", extra_index_url]
        run([*argv, f"{project}=={version}"], env=self.env)
        return self._imported(venv, project)

    def _imported(self, venv: Path, project: str) -> Installed:
        module = module_name(project)
        result = run(
            [str(venv / "bin" / "python"), "-c", f"import {module} as m; print(m.__version__, m.FLAVOR)"],
            env=self.env,
            cwd=self.root,
        )
        version, flavor = result.stdout.split()
        return Installed(version=version, flavor=flavor)

    def both(self, project: str, version: str, **indexes: str | None) -> dict[str, Installed]:
        return {"pip": self.pip(project, version, **indexes), "uv": self.uv(project, version, **indexes)}


# --- reading the simple index ---------------------------------------------------------------


class Link(NamedTuple):
    filename: str
    url: str  # absolute, without the fragment
    sha256: str
    core_metadata: str | None


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._current, self._text = dict(attrs), []

    def handle_data(self, data):
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def html_links(page_url: str, html: str) -> list[Link]:
    """The file links of a PEP 503 page, with their `#sha256=` and `data-core-metadata`."""
    parser = _Anchors()
    parser.feed(html)
    links = []
    for attrs, text in parser.anchors:
        href = attrs.get("href") or ""
        target, _, fragment = href.partition("#")
        algorithm, _, digest = fragment.partition("=")
        assert algorithm == "sha256", f"link without a sha256 fragment: {href}"
        metadata = attrs.get("data-core-metadata")
        links.append(
            Link(
                filename=text,
                url=urljoin(page_url, target),
                sha256=digest,
                core_metadata=metadata.partition("=")[2] if metadata else None,
            )
        )
    return links


def json_links(page_url: str, data: dict) -> list[Link]:
    return [
        Link(
            filename=f["filename"],
            url=urljoin(page_url, f["url"]),
            sha256=f["hashes"]["sha256"],
            core_metadata=f["core-metadata"]["sha256"] if f.get("core-metadata") else None,
        )
        for f in data["files"]
    ]


def project_names(root: dict) -> list[str]:
    """The project names a PEP 691 root page lists (entries may carry more keys)."""
    return [project["name"] for project in root["projects"]]


def download(url: str) -> bytes:
    """The bytes of a file as pip reads them: redirects followed (to the object store, with
    S3), `Accept-Encoding: identity`, and the body taken as is, never decoded."""
    with requests.get(url, timeout=60, headers={"Accept-Encoding": "identity"}, stream=True) as response:
        assert response.status_code == 200, f"GET {url} -> {response.status_code}"
        return response.raw.read(decode_content=False)
