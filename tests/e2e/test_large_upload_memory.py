"""A large upload streams through the server: its memory does not grow with the file.

One gunicorn worker, so the upload lands on a worker whose baseline we know. The bound is
the issue's (64 MiB for a 1 GiB file); a 256 MiB wheel is enough to catch a server that
buffers the file or a part of it per request, and keeps the suite's disk use small.
`make bench` measures the 1 GiB upload itself (bench/results/latest.md).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.harness import REPO_ROOT, live_server, unique_name

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
WHEEL_BYTES = 256 * MiB
GROWTH_BOUND = 64 * MiB


def _bench_module(name: str):
    """bench/<name>.py (the benchmark's wheel writer and process-tree RSS; bench/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class PeakRss(threading.Thread):
    def __init__(self, pid: int, tree_rss):
        super().__init__(daemon=True)
        self.pid, self.tree_rss = pid, tree_rss
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.tree_rss(self.pid))
            time.sleep(0.02)


def test_a_256_mib_upload_grows_the_server_by_less_than_64_mib(e2e_environment, twine, alice_token, tmp_path: Path):
    corpus, proc = _bench_module("corpus"), _bench_module("proc")
    name = unique_name("large")
    warm_up = [corpus.write_big_wheel(tmp_path, name, f"0.{i}", size) for i, size in enumerate((4096, 12 * MiB))]
    large = corpus.write_big_wheel(tmp_path, name, "1.0", WHEEL_BYTES)

    limit = {"PYPIDRAFT_MAX_UPLOAD_BYTES": str(2 * WHEEL_BYTES)}
    with live_server(e2e_environment, tmp_path, workers=1, settings=limit) as server:
        # Everything the upload path imports and caches (a small and a multipart write).
        twine.upload(warm_up, repository_url=server.legacy, username="__token__", password=alice_token)
        baseline = proc.tree_rss(server.process.pid)
        sampler = PeakRss(server.process.pid, proc.tree_rss)
        sampler.start()
        try:
            twine.upload([large], repository_url=server.legacy, username="__token__", password=alice_token)
        finally:
            sampler.done.set()
            sampler.join()
        listed = server.get(f"/pypi/{name}/1.0/json").json()["urls"]

    assert [(f["filename"], f["size"]) for f in listed] == [(large.name, large.stat().st_size)]
    growth = sampler.peak - baseline
    assert growth < GROWTH_BOUND, f"the server grew by {growth / MiB:.1f} MiB during a 256 MiB upload"
