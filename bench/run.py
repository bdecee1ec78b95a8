#!/usr/bin/env python3
"""pypidraft against pypiserver and devpi-server, in one run, on this machine (`make bench`).

What it does (see bench/README.md for the method and how to read the table):

 1. builds the synthetic corpus (bench/corpus.py; cached in bench/.cache/);
 2. starts PostgreSQL and SeaweedFS through scripts/testenv.py (this script re-runs itself
    under it), then pypiserver, devpi-server (each from PyPI in its own venv under
    bench/.venvs/) and pypidraft under gunicorn, all on 127.0.0.1;
 3. uploads the same corpus to each with twine, timed;
 4. measures, alternating between servers: wrk on the project page (HTML, JSON) and on
    /simple/ with 10 and then 10,000 projects; `uv pip install` from each; peak memory;
    and nginx serving a static copy of pypidraft's pages as the ceiling;
 5. a 1 GiB upload to pypidraft (memory growth) and publishing 500-file drafts;
 6. prints one table, writes it to bench/results/latest.md (+ latest.json), and stops
    everything it started, also on failure, Ctrl-C or SIGTERM.

Options: --duration SECONDS (wrk, default 10), --rounds N (default 2), --uv-runs N
(default 5), --quick (3 s, 1 round, 3 uv runs: a smoke test, figures are rough),
--skip-huge (no 1 GiB upload), --profile (py-spy on a loaded pypidraft worker),
--keep (keep the run folder with the servers' logs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import corpus as corpus_mod  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
from proc import RUN_PREFIX, BenchError, MemorySampler, Procs, reap_stale_runs, say, wait_until_quiet  # noqa: E402
from servers import PY, UV, Devpi, Nginx, Pypidraft, Pypiserver, Server, ensure_venv  # noqa: E402

INNER_ENV = "PYPIDRAFT_BENCH_INNER"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
RESULTS = BENCH / "results"


class Stopped(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, _frame):
    raise Stopped(signum)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk warm-up before each run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of wrk runs, alternating servers")
    parser.add_argument("--uv-runs", type=int, default=5, help="uv installs per index (median)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s runs, 1 round, 3 uv runs")
    parser.add_argument("--skip-huge", action="store_true", help="skip the 1 GiB upload")
    parser.add_argument("--profile", action="store_true", help="profile pypidraft's project page with py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, data)")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.uv_runs, args.warmup = 3.0, 1, 3, 1.0
    return args


# --- outer: system packages, then re-run under scripts/testenv.py ----------------------------


def outer(argv: list[str]) -> int:
    missing = [dep for dep, found in (("wrk", shutil.which("wrk")), ("nginx", _nginx())) if not found]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgres")
    if missing:
        say(f"installing system packages: {' '.join(missing)}")
        subprocess.run([str(REPO / "scripts" / "system-deps.sh"), *missing], check=True)
    env = dict(os.environ)
    env[INNER_ENV] = "1"
    command = [str(PY), str(REPO / "scripts" / "testenv.py"), "--", str(PY), str(BENCH / "run.py"), *argv]
    sys.stdout.flush()
    os.chdir(REPO)
    os.execve(command[0], command, env)
    return 1  # not reached


def _nginx() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


# --- inner: the benchmark itself -------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, run_dir: Path):
        self.args = args
        self.run_dir = run_dir
        self.procs = Procs(run_dir)
        self.sampler = MemorySampler(interval=0.1)
        self.values: dict[str, dict[str, float | None]] = {}
        self.raw: dict[str, list] = {}
        self.notes: list[str] = []
        self.settled: list[int] = []
        self.started = time.monotonic()
        self.pypiserver = Pypiserver()
        self.devpi = Devpi()
        self.pypidraft = Pypidraft()
        self.nginx = Nginx()
        self.corpus: corpus_mod.Corpus | None = None
        self.load_before = _loadavg()

    # -- helpers

    def put(self, metric: str, server: str, value: float | None) -> None:
        self.values.setdefault(metric, {})[server] = value

    def step(self, text: str) -> None:
        say(f"[{time.monotonic() - self.started:6.0f}s] {text}")

    @property
    def peers_and_us(self) -> list[Server]:
        return [self.pypiserver, self.devpi, self.pypidraft]

    def twine_creds(self, server: Server) -> tuple[str, str]:
        if isinstance(server, Pypidraft):
            return "__token__", server.token
        return server.user, server.password

    def upload(self, server: Server, files: list[Path], timeout: float) -> float:
        user, password = self.twine_creds(server)
        return measure.twine_upload(str(PY.parent / "twine"), server.upload_url, user, password, files, timeout=timeout)

    # -- phases

    def setup(self) -> None:
        self.step("corpus")
        self.corpus = corpus_mod.build(BENCH / ".cache", log=say)
        for name in ("pypiserver", "devpi") + (("tools",) if self.args.profile else ()):
            ensure_venv(name)
        self.sampler.start()
        self._watch_backing_services()
        for server in self.peers_and_us:
            self.step(f"starting {server.label}")
            server.start(self.procs, self.run_dir)
            self.sampler.watch(server.key, server.pid)
            say(f"{server.key} on {server.base} (pid {server.pid})")
        self.notes.append(
            f"pypidraft: gunicorn with {self.pypidraft.info.get('workers')} sync workers (pypidraft/gunicorn_conf.py)"
        )

    def _watch_backing_services(self) -> None:
        path = os.environ.get("PYPIDRAFT_TEST_SERVICES")
        if not path:
            return
        with contextlib.suppress(OSError, ValueError, KeyError):
            services = json.loads(Path(path).read_text())["services"]
            pg_pid_file = Path(services["postgres"]["data_dir"]) / "postmaster.pid"
            self.sampler.watch("postgres", int(pg_pid_file.read_text().split()[0]))
            self.sampler.watch("seaweedfs", int(services["seaweedfs"]["pid"]))

    def settle(self) -> None:
        """Before a timed upload: wait until every server and backing service is idle."""
        waited = wait_until_quiet(self.sampler.roots)
        if waited > 3:
            say(f"waited {waited:.0f}s for the servers to go idle")
            self.settled.append(round(waited))

    def uploads(self) -> None:
        corpus = self.corpus
        for server in self.peers_and_us:
            self.step(f"twine: 600 files to {server.key}")
            self.settle()
            seconds = self.upload(server, corpus.project_files(), timeout=900)
            self.put("upload_600", server.key, seconds)
            say(f"{server.key}: 600 files in {seconds:.2f}s")
        big = {s.key: [] for s in self.peers_and_us}
        growth = {s.key: 0 for s in self.peers_and_us}
        for wheel in corpus.big_files():
            for server in self.peers_and_us:
                self.settle()
                with self.sampler.window(server.key) as memory:
                    seconds = self.upload(server, [wheel], timeout=600)
                big[server.key].append(seconds)
                growth[server.key] = max(growth[server.key], memory["growth"])
                say(f"{server.key}: {wheel.name} in {seconds:.2f}s, RSS +{memory['growth'] >> 20} MiB")
        for key, times in big.items():
            self.put("upload_50", key, measure.median(times))
            self.put("upload_50_growth", key, growth[key])
        self.raw["upload_50"] = big
        self.notes.append(
            "Each timed upload starts once every server and backing service is idle (< 0.1 core over 2 s): "
            f"devpi goes on indexing for a while after its 600 files. Waits of more than 3 s: {self.settled or 'none'}."
        )
        for server in self.peers_and_us:
            self.upload(server, corpus.small_files(), timeout=300)
        # Every server must now list the 600 files.
        for server in self.peers_and_us:
            _, _, body = measure.fetch(server.project_url(corpus_mod.PROJECT))
            count = body.count(b"<a ")
            if count != len(corpus.project_files()):
                raise BenchError(f"{server.key} lists {count} files for {corpus_mod.PROJECT}, expected 600")

    def start_nginx(self) -> None:
        self.step("nginx: static copy of pypidraft's pages")
        self.nginx.start(self.procs, self.run_dir)
        self.sampler.watch("nginx", self.nginx.pid)
        page = self.nginx.copy_page(self.pypidraft.project_url(corpus_mod.PROJECT), f"/simple/{corpus_mod.PROJECT}/")
        local = {p.name: p for p in self.corpus.project_files()}
        copied = self.nginx.copy_files(page, local, self.pypidraft.base)
        self.nginx.copy_page(self.pypidraft.index_url, "/simple/")
        say(f"nginx on {self.nginx.base}: pages copied, {copied} files linked from the corpus")

    def _targets(self, which: str) -> list[tuple[str, Server, str, dict[str, str], str, bytes]]:
        """(metric prefix, server, url, headers, expected content type, expected text)."""
        name = corpus_mod.PROJECT.encode()
        html = "text/html"
        if which == "project":
            targets = []
            for server in (self.pypiserver, self.devpi, self.pypidraft, self.nginx):
                url = server.project_url(corpus_mod.PROJECT)
                targets.append(("project_html", server, url, {}, html, name))
                if server is not self.pypiserver:  # pypiserver 2.4.2 serves no PEP 691 JSON
                    targets.append(("project_json", server, url, {"Accept": JSON_V1}, JSON_V1, name))
            return targets
        servers = [self.pypiserver, self.devpi, self.pypidraft, self.nginx]
        if which == "root10k":
            servers.remove(self.devpi)
        return [(which, s, s.index_url, {}, html, name) for s in servers]

    def load(self, which: str) -> None:
        targets = self._targets(which)
        for metric, server, url, headers, ctype, text in targets:
            size = measure.check_page(url, headers, ctype, text)
            if metric == "project_html":
                self.put("project_html_bytes", server.key, size)
        for rnd in range(self.args.rounds):
            order = targets if rnd % 2 == 0 else list(reversed(targets))
            for metric, server, url, headers, _ctype, _text in order:
                self.step(f"wrk round {rnd + 1}: {metric} {server.key}")
                if self.args.warmup > 0:
                    measure.wrk(url, duration=self.args.warmup, headers=headers)
                result = measure.wrk(url, duration=self.args.duration, headers=headers)
                say(
                    f"{metric} {server.key}: {result.rps:,.1f} req/s, p50 {result.p50 * 1000:.2f} ms, "
                    f"p99 {result.p99 * 1000:.2f} ms, {result.requests} requests, {result.errors} errors"
                )
                if result.errors:
                    raise BenchError(f"{metric} on {server.key}: {result.errors} failed requests under load")
                self.raw.setdefault(f"{metric}:{server.key}", []).append(result.as_dict())
        for metric, server, *_ in targets:
            runs = self.raw[f"{metric}:{server.key}"]
            self.put(f"{metric}_rps", server.key, measure.median([r["rps"] for r in runs]))
            self.put(f"{metric}_p50", server.key, measure.median([r["p50"] for r in runs]))
            self.put(f"{metric}_p99", server.key, measure.median([r["p99"] for r in runs]))
        if which.startswith("root"):
            # One client at a time: the time for the page itself, without queueing.
            for metric, server, url, headers, *_ in targets:
                result = measure.wrk(
                    url, duration=max(2.0, self.args.duration / 2), threads=1, connections=1, headers=headers
                )
                self.put(f"{metric}_seq", server.key, result.p50)
                self.raw.setdefault(f"{metric}_seq:{server.key}", []).append(result.as_dict())

    def uv_installs(self) -> None:
        indexes = [(s.key, s.index_url) for s in (self.pypiserver, self.devpi, self.pypidraft, self.nginx)]
        times: dict[str, list[float]] = {key: [] for key, _ in indexes}
        for run in range(self.args.uv_runs):
            order = indexes if run % 2 == 0 else list(reversed(indexes))
            for key, url in order:
                seconds = measure.uv_install(UV, str(PY), url, corpus_mod.PROJECT, corpus_mod.NEWEST, self.run_dir)
                times[key].append(seconds)
            self.step("uv installs: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))
        for key, values in times.items():
            self.put("uv_install", key, measure.median(values))
        self.raw["uv_install"] = times

    def grow_root(self) -> None:
        self.step(f"root index: adding {corpus_mod.ROOT_EXTRA} projects to pypidraft (ORM) and pypiserver (files)")
        manifest = self.corpus.root / "extra.json"
        self.pypidraft.task("insert-root", str(manifest), self.pypidraft.user)
        self.pypiserver.add_files(self.corpus.extra_files())
        deadline = time.monotonic() + 120
        for server in (self.pypidraft, self.pypiserver):
            while True:
                _, _, body = measure.fetch(server.index_url)
                count = body.count(b"<a ")
                if count == corpus_mod.ROOT_TOTAL:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"{server.key} lists {count} projects, expected {corpus_mod.ROOT_TOTAL}")
                time.sleep(0.5)
        self.nginx.copy_page(self.pypidraft.index_url, "/simple/")
        self.notes.append(
            "Root index with 10,000 projects: pypidraft rows inserted in bulk with the ORM (bench/djtasks.py), "
            "pypiserver files copied into its folder; devpi not measured there (10,000 uploads would take ~25 min)."
        )

    def root_scaling(self) -> None:
        for kind, small, large in (("seq", "root10_seq", "root10k_seq"), ("load", "root10_p50", "root10k_p50")):
            a = self.values.get(small, {}).get("pypidraft")
            b = self.values.get(large, {}).get("pypidraft")
            self.put(f"root_scale_{kind}", "pypidraft", b / a if a and b else None)

    def publish(self) -> None:
        self.step("publishing 500-file drafts")
        out = self.pypidraft.task("publish-timing", self.pypidraft.user, "draftpub", "5", "500")
        data = json.loads(out.strip().splitlines()[-1])
        self.raw["publish"] = data
        self.put("publish_ms", "pypidraft", data["median"] * 1000)
        self.put("publish_queries", "pypidraft", data["queries"]["500"])
        self.put("publish_queries", "pypidraft_few", data["queries"]["5"])
        # End to end through the maintainer API, as CI calls it.
        drafts = json.loads(
            self.pypidraft.task("make-drafts", self.pypidraft.user, "draftapi", "3", "500").strip().splitlines()[-1]
        )
        times = []
        for project, version in drafts:
            url = f"{self.pypidraft.base}/api/v1/projects/{project}/releases/{version}/publish/"
            request = urllib.request.Request(
                url, method="POST", headers={"Authorization": f"Bearer {self.pypidraft.token}"}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                if response.status != 200:
                    raise BenchError(f"publish via API answered {response.status}")
            times.append(time.perf_counter() - started)
        self.raw["publish_api"] = times
        self.put("publish_api_ms", "pypidraft", measure.median(times) * 1000)
        say(
            f"publish: {data['median'] * 1000:.1f} ms (service), {measure.median(times) * 1000:.1f} ms (API); queries {data['queries']}"
        )

    def memory_peaks(self) -> None:
        self.sampler.sample()
        for key in ("pypiserver", "devpi", "pypidraft", "nginx"):
            self.put("peak_rss", key, self.sampler.peak.get(key))
        backing = sum(self.sampler.peak.get(k, 0) for k in ("postgres", "seaweedfs"))
        if backing:
            self.put("peak_rss_backing", "pypidraft", backing)

    def huge_upload(self) -> None:
        self.step("writing a 1 GiB wheel")
        folder = self.run_dir / "huge"
        folder.mkdir()
        wheel = corpus_mod.write_big_wheel(folder, corpus_mod.HUGE_PROJECT, "1.0.0", 1024**3)
        warm = corpus_mod.write_big_wheel(folder, corpus_mod.HUGE_PROJECT, "0.0.1", 1024 * 1024)
        # A server of one worker, warmed by one upload (imports, S3 client): the growth is
        # then what the 1 GiB upload itself costs, not memory an earlier upload left behind
        # in another worker, nor a first request's imports.
        single = Pypidraft()
        single.key, single.token = "pypidraft-1-worker", self.pypidraft.token
        single.launch(self.procs, self.run_dir, workers=1)
        self.sampler.watch(single.key, single.pid)
        self.upload(single, [warm], timeout=300)
        self.step("twine: 1 GiB wheel to pypidraft (one warmed worker)")
        self.sampler.interval = 0.05
        with self.sampler.window(single.key) as memory:
            seconds = self.upload(single, [wheel], timeout=900)
        self.sampler.interval = 0.1
        wheel.unlink()
        self.procs.stop(single.proc, grace=5)
        self.notes.append(
            "1 GiB upload: to a second gunicorn of pypidraft with one worker, warmed by a 1 MiB upload; "
            "the growth is its process tree's peak RSS during the upload minus its RSS right before."
        )
        self.put("upload_1g", "pypidraft", seconds)
        self.put("upload_1g_growth", "pypidraft", memory["growth"])
        self.raw["upload_1g_memory"] = memory
        say(f"1 GiB in {seconds:.1f}s; RSS {memory['before'] >> 20} MiB before, peak {memory['peak'] >> 20} MiB")

    def profile(self) -> None:
        """py-spy on every gunicorn worker while wrk loads the project page."""
        tools = ensure_venv("tools")
        out = RESULTS / "profile-simple-project.txt"
        duration = max(10, int(self.args.duration))
        self.step(f"profiling pypidraft GET /simple/{corpus_mod.PROJECT}/ for {duration}s (py-spy)")
        spy = subprocess.Popen(
            [
                str(tools / "bin" / "py-spy"),
                "record",
                "--pid",
                str(self.pypidraft.pid),
                "--subprocesses",
                "--rate",
                "250",
                "--duration",
                str(duration),
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1)
        measure.wrk(self.pypidraft.project_url(corpus_mod.PROJECT), duration=duration)
        spy_out, _ = spy.communicate(timeout=120)
        if spy.returncode != 0 or not out.exists():
            self.notes.append(f"profile failed: {spy_out[-500:]}")
            return
        import profile_summary

        summary = profile_summary.summarize(out)
        (RESULTS / "profile-simple-project.md").write_text(summary)
        print(summary)

    # -- report

    def write_report(self, status: str) -> str:
        self.root_scaling()
        table, checks = report.build_table(self.values)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        load = f"load average {self.load_before} before the run, {_loadavg()} after"
        head = [
            "# pypidraft benchmark",
            "",
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}{' (with local changes)' if dirty else ''}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; status: {status}; "
            f"took {time.monotonic() - self.started:.0f} s; {load}.",
            f"wrk: 2 threads, 16 connections, {self.args.duration:g} s per run after {self.args.warmup:g} s warm-up, "
            f"{self.args.rounds} round(s) alternating servers, median of rounds; "
            f"uv: median of {self.args.uv_runs} installs per index. Ratios are pypidraft ÷ the other figure.",
            "",
        ]
        notes = ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        text = "\n".join([*head, table, *notes]) + "\n"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "latest.md").write_text(text)
        (RESULTS / "latest.json").write_text(
            json.dumps(
                {"status": status, "values": self.values, "raw": self.raw, "checks": checks, "notes": self.notes},
                indent=1,
                default=str,
            )
        )
        return text


def _loadavg() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def inner(args: argparse.Namespace) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)
    base = Path(tempfile.gettempdir())
    reap_stale_runs(base)
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_PREFIX, dir=base))
    os.chmod(run_dir, 0o755)  # nginx workers (nobody) read the static copy
    bench = Bench(args, run_dir)
    bench.procs._record()
    status, rc = "complete", 0
    try:
        bench.notes.append(
            "Peers: pypiserver 2.4.2 with its [cache] extra and waitress (its 'auto' server picks waitress), "
            "no auth (-a . -P .); devpi-server 6.20 with an index without bases. Each runs with its defaults."
        )
        bench.setup()
        bench.uploads()
        bench.start_nginx()
        bench.load("project")
        bench.load("root10")
        bench.uv_installs()
        bench.grow_root()
        bench.load("root10k")
        bench.publish()
        bench.memory_peaks()
        if not args.skip_huge:
            bench.huge_upload()
        if args.profile:
            bench.profile()
        bench.notes.append(
            "nginx serves pypidraft's own HTML and JSON pages as static files (negotiated on Accept like "
            "pypidraft) and the files under the same /packages/ paths (hard links to the corpus, PEP 658 "
            ".metadata from the wheels), so `uv pip install` from it never touches pypidraft."
        )
        bench.notes.append(
            "Memory: RSS summed over each server's process tree (gunicorn master + workers; shared pages "
            "count once per process), sampled every 0.1 s over the whole run."
        )
    except BenchError as exc:
        status, rc = f"FAILED: {str(exc).splitlines()[0]}", 1
        say(f"ERROR: {exc}")
    except (KeyboardInterrupt, Stopped) as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        status, rc = "interrupted", 128 + signum
        say("interrupted; stopping everything")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        bench.sampler.stop()
        bench.procs.stop_all(grace=5)
        if args.keep:
            say(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    text = bench.write_report(status)
    print()
    print(text)
    say(f"written to {RESULTS / 'latest.md'}")
    return rc


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if os.environ.get(INNER_ENV) != "1":
        return outer(argv)
    try:
        return inner(args)
    except BenchError as exc:
        say(f"ERROR: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
