"""PyPI's XML-RPC interface at `POST /pypi`, the calls mirrors use.

Mirrors (bandersnatch) list every project with its serial, then follow the journal with
`changelog_since_serial`. The journal only ever holds public events, and every listing
starts from published releases, so draft activity is invisible here until the draft is
published, at which point its events appear with new serials and mirrors pick it up.

Malformed requests get an XML-RPC fault (or a 4xx for what is not XML-RPC at all), never
a 500.
"""

from __future__ import annotations

import xmlrpc.client
from datetime import UTC, datetime
from typing import Any
from xmlrpc.server import SimpleXMLRPCDispatcher

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from releases.models import JournalEntry, Project
from releases.selectors import by_version, find_release, latest_release, public_project, published_releases
from simpleindex.jsonapi import file_data

MAX_BODY_BYTES = 256 * 1024
# pypi.org answers at most this many journal rows per call; mirrors call again.
MAX_CHANGELOG_ROWS = 50_000


def _timestamp(value: datetime) -> int:
    return int(value.timestamp())


def _changelog_rows(entries, *, with_ids: bool) -> list[list[Any]]:
    rows = []
    for name, version, submitted, action, serial in entries.values_list(
        "name", "version", "submitted_date", "action", "id"
    ):
        row = [name, version or "", _timestamp(submitted), action]
        if with_ids:
            row.append(serial)
        rows.append(row)
    return rows


class PyPIRPC:
    """The calls, bound to one request (file URLs are absolute, like pypi.org's)."""

    def __init__(self, request: HttpRequest):
        self.request = request

    def list_packages(self) -> list[str]:
        return list(Project.objects.public().order_by("normalized_name").values_list("name", flat=True))

    def list_packages_with_serial(self) -> dict[str, int]:
        return {
            name: serial or 0
            for name, serial in Project.objects.public().order_by("normalized_name").values_list("name", "last_serial")
        }

    def changelog_last_serial(self) -> int:
        last = JournalEntry.objects.order_by("-id").values_list("id", flat=True).first()
        return last or 0

    def changelog_since_serial(self, since_serial: int) -> list[list[Any]]:
        since_serial = int(since_serial)
        entries = JournalEntry.objects.filter(id__gt=since_serial).order_by("id")[:MAX_CHANGELOG_ROWS]
        return _changelog_rows(entries, with_ids=True)

    def changelog(self, since: int, with_ids: bool = False) -> list[list[Any]]:
        moment = datetime.fromtimestamp(int(since), tz=UTC)
        entries = JournalEntry.objects.filter(submitted_date__gt=moment).order_by("id")[:MAX_CHANGELOG_ROWS]
        return _changelog_rows(entries, with_ids=bool(with_ids))

    def package_releases(self, package_name: str, show_hidden: bool = False) -> list[str]:
        """Newest first; only the latest one unless `show_hidden` (as on pypi.org)."""
        project = public_project(str(package_name))
        if project is None:
            return []
        releases = by_version(published_releases(project), newest_first=True)
        if show_hidden:
            return [release.version for release in releases]
        latest = latest_release(releases)
        return [latest.version] if latest else []

    def release_urls(self, package_name: str, version: str) -> list[dict[str, Any]]:
        project = public_project(str(package_name))
        release = find_release(published_releases(project), str(version)) if project else None
        if release is None:
            return []
        files = []
        for file in release.files.all():
            data = file_data(self.request, file, release)
            # XML-RPC has no null by default and pypi.org sends a DateTime here.
            data["upload_time"] = xmlrpc.client.DateTime(file.upload_time.astimezone(UTC).replace(tzinfo=None))
            data["requires_python"] = data["requires_python"] or ""
            data["yanked_reason"] = data["yanked_reason"] or ""
            files.append(data)
        return files


def _dispatcher(request: HttpRequest) -> SimpleXMLRPCDispatcher:
    dispatcher = SimpleXMLRPCDispatcher(allow_none=False, encoding="utf-8", use_builtin_types=False)
    calls = PyPIRPC(request)
    for name in (
        "list_packages",
        "list_packages_with_serial",
        "changelog_last_serial",
        "changelog_since_serial",
        "changelog",
        "package_releases",
        "release_urls",
    ):
        dispatcher.register_function(getattr(calls, name), name)
    dispatcher.register_introspection_functions()
    dispatcher.register_multicall_functions()
    return dispatcher


def _plain(status: int, message: str, **headers: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    for key, value in headers.items():
        response[key] = value
    return response


@csrf_exempt  # no cookies are read and nothing is changed
def endpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _plain(405, "This is PyPI's XML-RPC endpoint: POST an XML-RPC methodCall.", Allow="POST")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return _plain(413, f"An XML-RPC call here is at most {MAX_BODY_BYTES} bytes.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _plain(413, f"An XML-RPC call here is at most {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        return _plain(400, "Empty request body: POST an XML-RPC methodCall.")
    # Unknown methods, wrong arguments and malformed XML all come back as faults.
    payload = _dispatcher(request)._marshaled_dispatch(body)
    return HttpResponse(payload, content_type="text/xml; charset=utf-8")
