"""Warm a fresh gunicorn worker before it takes its first request.

Without this, each worker's first requests pay for importing every view module (the URL
resolver loads them lazily), opening its database connection and building its S3 client
(boto3 loads its service models): half a second, measured as the slowest of the 600
benchmark uploads, once per worker. Nothing here is required: a failure is logged and the
worker starts cold.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


def warm_up() -> None:
    started = time.monotonic()
    steps = {"urls": _load_urls, "database": _connect_database, "storage": _connect_storage}
    for name, step in steps.items():
        try:
            step()
        except Exception as exc:
            logger.warning("warm-up step %s failed (the worker starts cold): %s", name, exc)
    logger.info("worker warmed up in %.0f ms", (time.monotonic() - started) * 1000)


def _load_urls() -> None:
    from django.urls import get_resolver

    def walk(patterns) -> None:
        for pattern in patterns:
            walk(getattr(pattern, "url_patterns", ()))

    walk(get_resolver().url_patterns)
    # The upload pipeline and the archive checks import what they need lazily.
    import releases.uploads.validation
    import releases.uploads.views  # noqa: F401


def _connect_database() -> None:
    from django.db import connection

    connection.ensure_connection()


def _connect_storage() -> None:
    from releases.storage.objects import warm_up_writer

    warm_up_writer()  # builds the writer thread's S3 client (and loads botocore's models)
