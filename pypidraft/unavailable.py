"""Answer 503 when the database is unreachable, instead of a 500 or a hanging worker."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

MESSAGE = "The database is unavailable; nothing was changed. Try again in a moment."


def _unavailable() -> HttpResponse:
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
            logger.warning("database unavailable: %s", exc)
            return _unavailable()

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            return _unavailable()
        return None
