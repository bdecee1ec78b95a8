"""Processes the benchmark starts, how it stops them, and how it measures their memory.

Every server runs in its own session (process group) so it can be stopped as a whole and
a terminal's Ctrl-C reaches only the benchmark, which then stops them in order. Each is
started through ``setpriv --pdeathsig TERM`` when available, so a benchmark killed with
SIGKILL still takes its servers down; and the run folder records every process group,
so the next run reaps whatever survived anyway.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

RUN_PREFIX = "pypidraft-bench-"
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETPRIV = shutil.which("setpriv")


class BenchError(RuntimeError):
    """A step failed; the message says which and where its log is."""


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def tail(path: Path | str | None, lines: int = 25) -> str:
    if not path:
        return ""
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Started:
    name: str
    popen: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Procs:
    """The long-running processes of one run, recorded in ``<run dir>/run.json``."""

    run_dir: Path
    started: list[Started] = field(default_factory=list)

    def _record(self) -> None:
        data = {
            "owner_pid": os.getpid(),
            "owner_ticks": start_ticks(os.getpid()),
            "groups": [{"name": s.name, "pgid": s.pid, "ticks": start_ticks(s.pid)} for s in self.started],
        }
        tmp = self.run_dir / "run.json.tmp"
        tmp.write_text(json.dumps(data))
        tmp.replace(self.run_dir / "run.json")

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> Started:
        if SETPRIV:
            argv = [SETPRIV, "--pdeathsig", "TERM", "--", *argv]
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = Started(name, popen, log, stop_signal)
        self.started.append(started)
        self._record()
        return started

    def stop(self, started: Started, grace: float = 10.0) -> None:
        self._stop_many([started], grace)
        self.started.remove(started)
        self._record()

    def stop_all(self, grace: float = 10.0) -> None:
        self._stop_many(list(reversed(self.started)), grace)
        self.started.clear()
        self._record()

    @staticmethod
    def _stop_many(items: list[Started], grace: float) -> None:
        for item in items:
            if item.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(item.pid, item.stop_signal)
        deadline = time.monotonic() + grace
        for item in items:
            with contextlib.suppress(subprocess.TimeoutExpired):
                item.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The group may still hold workers after the leader exited: kill what is left.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(item.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                item.popen.wait(timeout=5)


def reap_stale_runs(base: Path) -> None:
    """Kill process groups of earlier runs whose owner died, and remove their folders."""
    for run_json in glob.glob(str(base / f"{RUN_PREFIX}*" / "run.json")):
        try:
            data = json.loads(Path(run_json).read_text())
        except (OSError, ValueError):
            continue
        owner = data.get("owner_pid")
        if alive(owner) and start_ticks(owner) == data.get("owner_ticks"):
            continue
        for group in data.get("groups", []):
            pgid = group.get("pgid")
            if alive(pgid) and start_ticks(pgid) == group.get("ticks"):
                say(f"stopping {group.get('name')} (pid {pgid}) left over by a killed run")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
        shutil.rmtree(Path(run_json).parent, ignore_errors=True)


def wait_http(url: str, *, proc: Started | None = None, timeout: float = 60.0, ok=(200,)) -> None:
    """Wait until `url` answers one of `ok`; fail early when the process died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise BenchError(
                f"{proc.name} exited ({proc.popen.returncode}) while starting; log {proc.log}:\n{tail(proc.log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status in ok:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    log = f"; log {proc.log}:\n{tail(proc.log)}" if proc else ""
    raise BenchError(f"{url} not ready after {timeout:.0f}s (last: {last}){log}")


def run_checked(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600.0,
    what: str = "",
) -> str:
    """Run a command to completion; raise BenchError with its output when it fails."""
    try:
        result = subprocess.run(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
        raise BenchError(f"{what or argv[0]} timed out after {timeout:.0f}s: {' '.join(argv)}\n{out[-3000:]}") from None
    if result.returncode != 0:
        raise BenchError(f"{what or argv[0]} failed ({result.returncode}): {' '.join(argv)}\n{result.stdout[-3000:]}")
    return result.stdout


# --- memory ----------------------------------------------------------------------------


def tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for task in glob.glob(f"/proc/{pid}/task/*/children"):
            with contextlib.suppress(OSError, ValueError), open(task) as fh:
                todo.extend(int(c) for c in fh.read().split())
    return pids


def tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/statm") as fh:
            total += int(fh.read().split()[1]) * PAGE
    return total


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants."""
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def wait_until_quiet(roots: dict[str, int], *, span: float = 2.0, busy: float = 0.1, timeout: float = 180) -> float:
    """Wait until the process trees `roots` together use less than `busy` of a core over
    `span` seconds (a server may still be digesting an upload when the next one is
    measured: devpi indexed for seconds after its 600 files). Returns the seconds waited."""
    start = time.monotonic()
    while True:
        before = sum(tree_cpu_seconds(pid) for pid in roots.values() if alive(pid))
        time.sleep(span)
        used = sum(tree_cpu_seconds(pid) for pid in roots.values() if alive(pid)) - before
        waited = time.monotonic() - start
        if used < busy * span or waited > timeout:
            return waited


class MemorySampler(threading.Thread):
    """Samples the RSS of each watched process tree; keeps the peak per tree.

    ``window(name)`` measures a phase: the RSS right before it, and the peak during it.
    """

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True, name="memory-sampler")
        self.interval = interval
        self.roots: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._windows: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self.roots[name] = pid
            self.peak.setdefault(name, 0)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            roots = dict(self.roots)
        for name, pid in roots.items():
            if not alive(pid):
                continue
            rss = tree_rss(pid)
            with self._lock:
                self.peak[name] = max(self.peak.get(name, 0), rss)
                if name in self._windows:
                    self._windows[name][1] = max(self._windows[name][1], rss)

    @contextlib.contextmanager
    def window(self, name: str):
        """Yields a dict filled with 'before', 'peak' and 'growth' (bytes) on exit."""
        result: dict[str, int] = {}
        before = tree_rss(self.roots[name])
        with self._lock:
            self._windows[name] = [before, before]
        try:
            yield result
        finally:
            self.sample()
            with self._lock:
                before, peak = self._windows.pop(name)
            result.update(before=before, peak=peak, growth=peak - before)

    def stop(self) -> None:
        self._stop.set()
