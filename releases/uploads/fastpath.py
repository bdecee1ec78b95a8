"""A short way to the upload view for `POST /legacy/` and `POST /legacy/draft/`.

An upload uses no session, no CSRF token (the view is exempt: clients authenticate every
request), no `request.user` and no messages, and its two URLs need no resolver. Going
through those middlewares cost about a tenth of an upload's Python. This middleware sits
inside the security middlewares, so the answer carries the same headers as any other.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from pypidraft.unavailable import unavailable_response
from releases.uploads import views as upload_views

# path -> draft_endpoint, as in releases/urls.py
UPLOAD_PATHS = {"/legacy/": False, "/legacy/draft/": True}


class UploadFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        draft_endpoint = UPLOAD_PATHS.get(request.path_info) if request.method == "POST" else None
        if draft_endpoint is None:
            return self.get_response(request)
        # As CommonMiddleware would, before any work: a Host outside ALLOWED_HOSTS raises
        # DisallowedHost (400), not after the upload committed, when links are built.
        request.get_host()
        try:
            response = upload_views.upload(request, draft_endpoint=draft_endpoint)
        except (OperationalError, InterfaceError) as exc:
            # What DatabaseUnavailableMiddleware does for views: Django turns an exception
            # raised in a middleware into a 500 before any outer middleware sees it.
            return unavailable_response(exc)
        # As CommonMiddleware would, which this path skips.
        response["Content-Length"] = str(len(response.content))
        return response
