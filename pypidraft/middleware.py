"""A strict Content-Security-Policy on every response.

Our pages load scripts and styles only from our own static files (no inline script, no
inline style, no CDN), so a description that slipped an element past the sanitiser still
could not run anything. Django admin (5.2) needs nothing more: its scripts are static
files configured through data attributes, and its scripts change styles through the CSSOM,
which CSP does not restrict. README images may come from any https host (badges).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' https: data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class RejectNulPathMiddleware:
    """A NUL byte in the path can name nothing here, and PostgreSQL refuses it in queries:
    answer 404 before any view builds a query from it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            return HttpResponseNotFound("Not found: the path contains a NUL byte.\n", content_type="text/plain")
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that needs a different policy sets its own header.
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
