"""Load generation (wrk), install timing (uv) and upload timing (twine)."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from proc import BenchError, run_checked

WRK = shutil.which("wrk") or "/usr/bin/wrk"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)


def client_env(**extra: str) -> dict[str, str]:
    """The environment for twine and uv: none of the machine's index configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "TWINE_", "VIRTUAL_ENV", "CONDA_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_NO_CACHE="1",
        UV_NO_PROGRESS="1",
        UV_PYTHON_DOWNLOADS="never",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        COLUMNS="200",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


@dataclass
class WrkResult:
    rps: float
    p50: float  # seconds
    p99: float
    requests: int
    errors: int  # non-2xx/3xx responses + socket errors other than the server closing
    raw: str = field(repr=False, default="")

    def as_dict(self) -> dict:
        return {"rps": self.rps, "p50": self.p50, "p99": self.p99, "requests": self.requests, "errors": self.errors}


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    lat = {m.group(1): float(m.group(2)) * UNITS[m.group(3)] for m in LATENCY_LINE.finditer(output)}
    if not rps or not total or "50" not in lat or "99" not in lat:
        raise BenchError(f"could not parse wrk output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read \d+, write (\d+), timeout (\d+)", output)
    if sock:
        # "read" errors are the server closing kept-alive connections (gunicorn's sync
        # workers close after each response); wrk reconnects, they are not failures.
        errors += int(sock.group(1)) + int(sock.group(2)) + int(sock.group(3))
    return WrkResult(float(rps.group(1)), lat["50"], lat["99"], int(total.group(1)), errors, output)


def wrk(
    url: str,
    *,
    duration: float,
    threads: int = 2,
    connections: int = 16,
    headers: dict[str, str] | None = None,
    timeout_s: int = 30,
) -> WrkResult:
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", f"--timeout={timeout_s}s"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(url)
    out = run_checked(argv, timeout=duration + timeout_s + 30, what="wrk")
    return parse_wrk(out)


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers.items()), response.read()


def check_page(url: str, headers: dict[str, str] | None, expect_type: str, must_contain: bytes) -> int:
    """One GET before loading a URL: it must answer 200 with the expected body. Returns its size."""
    try:
        status, got_headers, body = fetch(url, headers)
    except OSError as exc:
        raise BenchError(f"GET {url} failed: {exc}") from exc
    content_type = {k.lower(): v for k, v in got_headers.items()}.get("content-type", "")
    if status != 200 or expect_type not in content_type or must_contain not in body:
        raise BenchError(f"GET {url} answered {status} {content_type!r} ({len(body)} bytes) without {must_contain!r}")
    return len(body)


# --- uv pip install -------------------------------------------------------------------------


def uv_install(uv: str, python: str, index_url: str, requirement: str, expect_version: str, workdir: Path) -> float:
    """Seconds for `uv pip install` into a fresh venv, no cache, no config; checks the result."""
    env = client_env()
    with tempfile.TemporaryDirectory(dir=workdir, prefix="uvvenv-") as tmp:
        venv = Path(tmp) / "venv"
        run_checked([uv, "venv", "--quiet", "--python", python, str(venv)], env=env, timeout=60, what="uv venv")
        argv = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "--index-url",
            index_url,
            requirement,
        ]
        started = time.perf_counter()
        result = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise BenchError(f"uv pip install from {index_url} failed:\n{result.stdout}{result.stderr}")
        dist = requirement.split("=")[0].strip().replace("-", "_")
        site = list((venv / "lib").glob(f"python*/site-packages/{dist}-*.dist-info"))
        versions = [p.name[len(dist) + 1 : -len(".dist-info")] for p in site]
        if versions != [expect_version]:
            raise BenchError(f"uv installed {versions} from {index_url}, expected {expect_version}")
    return elapsed


# --- twine upload ---------------------------------------------------------------------------


def twine_upload(twine: str, url: str, user: str, password: str, files: list[Path], *, timeout: float) -> float:
    """Seconds for one `twine upload` of `files` (one call, files sent one after another)."""
    argv = [
        twine,
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--repository-url",
        url,
        "-u",
        user,
        "-p",
        password,
        *[str(f) for f in files],
    ]
    started = time.perf_counter()
    try:
        result = subprocess.run(
            argv,
            env=client_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"twine upload of {len(files)} file(s) to {url} timed out after {timeout:.0f}s") from None
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(
            f"twine upload to {url} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"
        )
    return elapsed


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
