#!/usr/bin/env python3
"""The 600-file twine upload alone: pypidraft against pypiserver, in one quick run.

    .venv/bin/python bench/uploads.py [--files N]

A short loop for work on the upload path (`make bench` measures everything, ~12 min).
Starts PostgreSQL and SeaweedFS (re-running itself under scripts/testenv.py), pypiserver
and pypidraft under gunicorn like bench/run.py, uploads the corpus project's files with
one twine call to each, and prints both times, their ratio, and the median time pypidraft
spent per upload (from gunicorn's access log), then stops everything.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import corpus as corpus_mod  # noqa: E402
import measure  # noqa: E402
from proc import Procs, say  # noqa: E402
from servers import PY, Pypidraft, Pypiserver  # noqa: E402

INNER_ENV = "PYPIDRAFT_BENCH_UPLOADS_INNER"
ACCESS_LINE = re.compile(r'"?POST /legacy/ HTTP/1\.1"? 200 (\d+)$')


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=600, help="how many of the project's files (default 600)")
    args = parser.parse_args(argv)
    if os.environ.get(INNER_ENV) != "1":
        env = {**os.environ, INNER_ENV: "1"}
        command = [str(PY), str(REPO / "scripts" / "testenv.py"), "--", str(PY), __file__, *argv]
        os.execve(command[0], command, env)

    # gunicorn logs each request's duration in microseconds as the last field.
    os.environ["GUNICORN_CMD_ARGS"] = "--access-logformat '%(r)s %(s)s %(D)s'"
    run_dir = Path(tempfile.mkdtemp(prefix="pypidraft-bench-uploads-"))
    procs = Procs(run_dir)
    files = corpus_mod.build(BENCH / ".cache", log=say).project_files()[: args.files]
    twine = str(PY.parent / "twine")
    pypiserver, pypidraft = Pypiserver(), Pypidraft()
    try:
        for server in (pypiserver, pypidraft):
            server.start(procs, run_dir)
        ours = measure.twine_upload(twine, pypidraft.upload_url, "__token__", pypidraft.token, files, timeout=900)
        peer = measure.twine_upload(
            twine, pypiserver.upload_url, pypiserver.user, pypiserver.password, files, timeout=900
        )
    finally:
        procs.stop_all(grace=5)
    durations = [
        int(match.group(1))
        for log in run_dir.glob("gunicorn-*.log")
        for line in log.read_text(errors="replace").splitlines()
        if (match := ACCESS_LINE.search(line.strip()))
    ]
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"twine, {len(files)} files: pypidraft {ours:.2f} s, pypiserver {peer:.2f} s, ratio {ours / peer:.2f}")
    if durations:
        print(
            f"pypidraft per upload (gunicorn): median {statistics.median(durations) / 1000:.1f} ms, "
            f"mean {statistics.mean(durations) / 1000:.1f} ms, slowest {max(durations) / 1000:.0f} ms, "
            f"sum {sum(durations) / 1e6:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
