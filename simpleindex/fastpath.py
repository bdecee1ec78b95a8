"""A fast path for the public simple index: stored pages without most of the request cycle.

Installers hit `/simple/` and `/simple/<project>/` far more than anything else. When the
page for the current serial is already rendered, answering needs one indexed query (the
serial) and a dictionary lookup; sessions, CSRF, authentication, messages, the URL
resolver and the ORM would cost several times that. The middleware sits inside the
security middlewares (HTTPS redirect, HSTS, CSP, X-Frame-Options), so its responses carry
the same headers as any other. Anything else — a miss, a redirect, a 404, a draft index,
a database error — falls through to the views, which render and store the page.

Correctness does not depend on this process's memory: every request reads the current
serial from the database, and bytes are served only for that serial. The in-process copy
is a faster place than the RenderedPage table to find the same bytes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse

from releases.models import JournalEntry, Project
from simpleindex import builder
from simpleindex.views import FORMAT_CODES, RENDER_VERSION, etag_matches, public_index_headers, stored_page

PROJECT_PATH = re.compile(r"^/simple/([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)/$")
MAX_CACHED_BYTES = 64 * 1024 * 1024


class PageCache:
    """Bytes of stored pages by (key, format), bounded in total size, least recently used out."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.entries: OrderedDict[tuple[str, str], tuple[int, bytes]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str], serial: int) -> bytes | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] != serial:
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], serial: int, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.size -= len(old[1])
            self.entries[key] = (serial, body)
            self.size += len(body)
            while self.size > self.max_bytes:
                _key, (_serial, evicted) = self.entries.popitem(last=False)
                self.size -= len(evicted)


class StoredSimplePageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.cache = PageCache(MAX_CACHED_BYTES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD") and not request.META.get("QUERY_STRING"):
            path = request.path_info
            if path == "/simple/" or PROJECT_PATH.match(path):
                # As CommonMiddleware would, which this path skips: a Host outside
                # ALLOWED_HOSTS raises DisallowedHost, which Django answers with 400.
                request.get_host()
                response = self._serve(request, path)
                if response is not None:
                    return response
        return self.get_response(request)

    def _serve(self, request: HttpRequest, path: str) -> HttpResponse | None:
        try:
            content_type = builder.choose_content_type(request)
        except builder.NotAcceptable:
            return None
        try:
            located = _locate(path)
            if located is None:
                return None
            key, serial, validator = located
            fmt = FORMAT_CODES[content_type] + RENDER_VERSION
            body = self.cache.get((key, fmt), serial)
            if body is None:
                body = stored_page(key, fmt, serial)
                if body is None:
                    return None
                self.cache.put((key, fmt), serial, body)
        except DatabaseError:
            return None  # the views answer with the right error
        headers = public_index_headers(content_type=content_type, serial=serial, validator=validator)
        if etag_matches(request, headers["ETag"]):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(body, content_type=builder.served_content_type(content_type))
        for name, value in headers.items():
            response[name] = value
        # As CommonMiddleware would, which this path skips.
        response["Content-Length"] = str(len(response.content))
        return response


def _locate(path: str) -> tuple[str, int, str] | None:
    """(cache key, current serial, validator) of a public page, or None to let the views decide."""
    with connection.cursor() as cursor:
        if path == "/simple/":
            cursor.execute(f"SELECT MAX(id) FROM {JournalEntry._meta.db_table}")
            serial = cursor.fetchone()[0] or 0
            return "root", serial, f"s{serial}"
        name = PROJECT_PATH.match(path).group(1)
        # A project with a serial has had a public event; a stored page exists only if the
        # views found it public when they rendered it.
        cursor.execute(
            f"SELECT id, last_serial FROM {Project._meta.db_table} "
            "WHERE normalized_name = %s AND last_serial IS NOT NULL",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    pk, serial = row
    return f"project:{pk}", serial, f"p{pk}s{serial}"
