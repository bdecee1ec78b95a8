"""The servers under test: installing, starting, and what their URLs look like.

- pypiserver 2.4.2 (`pypiserver[cache]` + waitress: the directory listing cached by
  watchdog, served by waitress, which pypiserver's "auto" server picks first; no auth:
  ``-a . -P .``), in its own venv under bench/.venvs/.
- devpi-server 6.20.x (+ devpi-client to create a user and an index without bases, so it
  never mirrors anything), in its own venv.
- pypidraft under gunicorn with pypidraft/gunicorn_conf.py, DEBUG=0, PYPIDRAFT_HTTPS=0, on
  the PostgreSQL and SeaweedFS that scripts/testenv.py started for this run.
- nginx serving a static copy of pypidraft's pages (the ceiling).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from proc import BenchError, Procs, Started, run_checked, say, wait_http

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
VENVS = BENCH / ".venvs"
PY = Path(sys.executable)
UV = str(PY.parent / "uv") if (PY.parent / "uv").exists() else (shutil.which("uv") or "uv")
HOST = "127.0.0.1"

PEER_REQUIREMENTS = {
    "pypiserver": ["pypiserver[cache]==2.4.2", "waitress==3.0.2"],
    "devpi": ["devpi-server==6.20.*", "devpi-client==7.3.*"],
    "tools": ["py-spy==0.4.*"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ensure_venv(name: str) -> Path:
    """bench/.venvs/<name> with PEER_REQUIREMENTS[name], reinstalled when they change."""
    venv = VENVS / name
    stamp = venv / ".bench-installed"
    wanted = "\n".join(PEER_REQUIREMENTS[name])
    if stamp.exists() and stamp.read_text() == wanted and (venv / "bin" / "python").exists():
        return venv
    say(f"installing {name} into {venv} ({', '.join(PEER_REQUIREMENTS[name])})")
    shutil.rmtree(venv, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env["UV_NO_CONFIG"] = "1"
    run_checked([UV, "venv", "--quiet", "--python", str(PY), str(venv)], env=env, timeout=120, what="uv venv")
    run_checked(
        [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *PEER_REQUIREMENTS[name]],
        env=env,
        timeout=600,
        what=f"installing {name}",
    )
    stamp.write_text(wanted)
    return venv


@dataclass
class Server:
    key: str
    label: str
    port: int = 0
    proc: Started | None = None
    user: str = "bench"
    password: str = "bench-password-not-secret"
    info: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.base}/simple/"

    def project_url(self, name: str) -> str:
        return f"{self.index_url}{name}/"

    @property
    def upload_url(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Pypiserver(Server):
    def __init__(self) -> None:
        super().__init__("pypiserver", "pypiserver 2.4.2")

    @property
    def upload_url(self) -> str:
        return f"{self.base}/"

    def start(self, procs: Procs, run_dir: Path) -> None:
        venv = ensure_venv("pypiserver")
        self.packages = run_dir / "pypiserver" / "packages"
        self.packages.mkdir(parents=True)
        self.port = free_port()
        argv = [
            str(venv / "bin" / "pypi-server"),
            "run",
            "-p",
            str(self.port),
            "-i",
            HOST,
            "-a",
            ".",
            "-P",
            ".",
            "--disable-fallback",
            "--server",
            "auto",
            str(self.packages),
        ]
        self.proc = procs.start(self.key, argv, env=_clean_env(), cwd=run_dir, log=run_dir / "pypiserver.log")
        wait_http(f"{self.base}/health", proc=self.proc)

    def add_files(self, files: list[Path]) -> None:
        """Put distributions straight into the served folder (what pypiserver is built for)."""
        for f in files:
            _link_or_copy(f, self.packages / f.name)


class Devpi(Server):
    def __init__(self) -> None:
        super().__init__("devpi", "devpi-server 6.20")
        self.index = f"{self.user}/dev"

    @property
    def index_url(self) -> str:
        return f"{self.base}/{self.index}/+simple/"

    @property
    def upload_url(self) -> str:
        return f"{self.base}/{self.index}/"

    def start(self, procs: Procs, run_dir: Path) -> None:
        venv = ensure_venv("devpi")
        bindir = venv / "bin"
        serverdir = run_dir / "devpi" / "server"
        clientdir = run_dir / "devpi" / "client"
        serverdir.parent.mkdir(parents=True)
        env = _clean_env()
        run_checked(
            [str(bindir / "devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi"],
            env=env,
            timeout=120,
            what="devpi-init",
        )
        self.port = free_port()
        argv = [
            str(bindir / "devpi-server"),
            "--serverdir",
            str(serverdir),
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        self.proc = procs.start(self.key, argv, env=env, cwd=run_dir, log=run_dir / "devpi.log")
        wait_http(f"{self.base}/+api", proc=self.proc, timeout=120)
        devpi = [str(bindir / "devpi"), "--clientdir", str(clientdir)]
        run_checked([*devpi, "use", self.base], env=env, timeout=60, what="devpi use")
        run_checked(
            [*devpi, "user", "-c", self.user, f"password={self.password}"], env=env, timeout=60, what="devpi user"
        )
        run_checked([*devpi, "login", self.user, "--password", self.password], env=env, timeout=60, what="devpi login")
        run_checked(
            [*devpi, "index", "-c", self.index, "bases=", "volatile=False"], env=env, timeout=60, what="devpi index"
        )


class Pypidraft(Server):
    def __init__(self) -> None:
        super().__init__("pypidraft", "pypidraft")
        self.token = ""

    @property
    def upload_url(self) -> str:
        return f"{self.base}/legacy/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DEBUG="0",
            PYPIDRAFT_HTTPS="0",
            PYPIDRAFT_MAX_UPLOAD_BYTES=str(2 * 1024**3),
            PYPIDRAFT_BIND=f"{HOST}:{self.port}",
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="pypidraft.settings",
        )
        return env

    def manage(self, *args: str, timeout: float = 300) -> str:
        return run_checked(
            [str(PY), "manage.py", *args], env=self.env(), cwd=REPO, timeout=timeout, what=f"manage.py {args[0]}"
        )

    def task(self, *args: str, timeout: float = 600) -> str:
        return run_checked(
            [str(PY), str(BENCH / "djtasks.py"), *args],
            env=self.env(),
            cwd=REPO,
            timeout=timeout,
            what=f"djtasks {args[0]}",
        )

    def start(self, procs: Procs, run_dir: Path) -> None:
        for name in ("DATABASE_URL", "AWS_S3_ENDPOINT_URL", "SECRET_KEY"):
            if not os.environ.get(name):
                raise BenchError(f"{name} is not set: the pypidraft part must run under scripts/testenv.py")
        self.manage("migrate", "--noinput")
        self.task("create-user", self.user, self.password)
        self.token = self.manage("create_api_token", self.user, "--description", "bench").strip().splitlines()[-1]
        self.launch(procs, run_dir)

    def launch(self, procs: Procs, run_dir: Path, workers: int | None = None) -> None:
        """gunicorn on a free port (PYPIDRAFT_WORKERS=`workers` when given)."""
        self.port = free_port()
        argv = [str(PY.parent / "gunicorn"), "-c", str(REPO / "pypidraft" / "gunicorn_conf.py"), "pypidraft.wsgi"]
        env = self.env()
        if workers:
            env["PYPIDRAFT_WORKERS"] = str(workers)
        # SIGQUIT: gunicorn's quick shutdown (SIGTERM waits up to graceful_timeout).
        self.proc = procs.start(
            self.key, argv, env=env, cwd=REPO, log=run_dir / f"gunicorn-{self.port}.log", stop_signal=signal.SIGQUIT
        )
        wait_http(f"{self.base}/simple/", proc=self.proc, timeout=60)
        self.info["workers"] = len(_children(self.pid))

    @property
    def twine_user(self) -> str:
        return "__token__"


class Nginx(Server):
    """nginx serving static copies of pypidraft's pages, with the same content negotiation."""

    def __init__(self) -> None:
        super().__init__("nginx", "nginx (static copy)")

    def start(self, procs: Procs, run_dir: Path) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.dir = run_dir / "nginx"
        self.root = self.dir / "root"
        for sub in ("root/simple", "tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        tmp = self.dir / "tmp"
        conf = self.dir / "nginx.conf"
        conf.write_text(
            f"""
worker_processes auto;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{
        text/html html;
        application/vnd.pypi.simple.v1+json json;
        text/plain metadata;
    }}
    default_type application/octet-stream;
    # PEP 691 negotiation, as pypidraft does it for installers: JSON when asked for.
    map $http_accept $simple_index {{
        "~application/vnd\\.pypi\\.simple\\.(v1|latest)\\+json" index.json;
        default index.html;
    }}
    server {{
        listen {HOST}:{self.port};
        root {self.root};
        location /simple/ {{
            add_header Vary Accept;
            try_files $uri$simple_index =404;
        }}
        location /packages/ {{ }}
    }}
}}
"""
        )
        argv = [nginx, "-p", str(self.dir), "-e", str(self.dir / "logs" / "error.log"), "-c", str(conf)]
        self.proc = procs.start(self.key, argv, env=_clean_env(), cwd=self.dir, log=self.dir / "logs" / "stdout.log")
        wait_http(f"{self.base}/simple/", proc=self.proc, ok=(200, 404), timeout=30)

    def copy_page(self, source_url: str, path: str) -> dict:
        """Store pypidraft's HTML and JSON renderings of a page under `path` (e.g. /simple/x/)."""
        from measure import fetch

        folder = self.root / path.strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        _, _, html = fetch(source_url)
        _, _, data = fetch(source_url, {"Accept": "application/vnd.pypi.simple.v1+json"})
        (folder / "index.html").write_bytes(html)
        (folder / "index.json").write_bytes(data)
        return json.loads(data)

    def copy_files(self, page: dict, local: dict[str, Path], source_base: str) -> int:
        """Make every file of a copied page (and its PEP 658 metadata) downloadable here too.

        Files come from the local corpus (the same bytes), metadata from the wheel itself,
        checked against the page's hash; anything that does not match is fetched from pypidraft.
        """
        import hashlib

        from measure import fetch

        copied = 0
        for entry in page["files"]:
            target = self.root / entry["url"].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(local[entry["filename"]], target)
            copied += 1
            core = entry.get("core-metadata")
            if core:
                data = _wheel_metadata(local[entry["filename"]])
                if hashlib.sha256(data).hexdigest() != core["sha256"]:
                    _, _, data = fetch(source_base + entry["url"] + ".metadata")
                Path(str(target) + ".metadata").write_bytes(data)
        return copied


def _wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name)


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in task.read_text().split()]
    return out


def _clean_env() -> dict[str, str]:
    """Peers get a plain environment: none of pypidraft's settings or credentials."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM")
    return {k: v for k, v in os.environ.items() if k in keep}
