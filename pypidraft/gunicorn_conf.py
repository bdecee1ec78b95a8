"""gunicorn settings for pypidraft: `gunicorn -c pypidraft/gunicorn_conf.py pypidraft.wsgi`.

Sync workers, two per core: one works while the other waits on the database or the object
store. Measured against threaded workers (gthread, which keeps connections alive) on the
stored simple page, throughput was within noise and p99 latency was several times better
with sync workers. Uploads stream to disk, so a slow upload ties up a worker, not memory.
Override anything with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("PYPIDRAFT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PYPIDRAFT_WORKERS", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 120
graceful_timeout = 20
keepalive = 5
# Draft tokens travel in URL paths: the access log goes through a scrubbing logger.
logger_class = "pypidraft.logscrub.ScrubbingGunicornLogger"
accesslog = os.environ.get("PYPIDRAFT_ACCESS_LOG", "-")
errorlog = "-"
# gunicorn's control socket lives in a fixed per-user path; several servers on one machine
# (tests, benchmarks) would fight over it, and nothing here uses it.
control_socket_disable = True


def post_worker_init(worker) -> None:
    # Imports, the database connection and the S3 client, before the first request.
    from pypidraft.warmup import warm_up

    warm_up()
