"""Answer 503 when the database is unreachable, instead of a 500 or a hanging worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.core.signals import request_finished, request_started
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

MESSAGE = "The database is unavailable; nothing was changed. Try again in a moment."


def unavailable_response(exc: Exception) -> HttpResponse:
    logger.warning("database unavailable: %s", exc)
    response = HttpResponse(MESSAGE + "\n", status=503, content_type="text/plain; charset=utf-8", reason=MESSAGE)
    response["Retry-After"] = "10"
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Outermost middleware: a lost database connection anywhere becomes a clear 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        except (OperationalError, InterfaceError) as exc:
            return unavailable_response(exc)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            return unavailable_response(exception)
        return None


# A persistent connection that sat idle may have been cut (a database restart, a proxy
# timeout). Django's CONN_HEALTH_CHECKS would test it with a query before *every* request,
# which doubled the round trips of a stored index page; testing only connections idle for
# longer than this keeps busy workers at one query and idle ones from failing once.
IDLE_CHECK_SECONDS = 1.0


def check_idle_connections(**kwargs: object) -> None:
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        last_used = getattr(conn, "pypidraft_last_used", None)
        idle = last_used is None or now - last_used > IDLE_CHECK_SECONDS
        if conn.connection is not None and idle and not conn.is_usable():
            conn.close()


def mark_connections_used(**kwargs: object) -> None:
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        conn.pypidraft_last_used = now


def connect_signals() -> None:
    request_started.connect(check_idle_connections, dispatch_uid="pypidraft.check_idle_connections")
    request_finished.connect(mark_connections_used, dispatch_uid="pypidraft.mark_connections_used")
