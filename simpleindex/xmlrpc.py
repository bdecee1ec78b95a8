"""PyPI's XML-RPC interface at `POST /pypi`, the calls mirrors use.

Mirrors (bandersnatch) list every project with its serial, then follow the journal with
`changelog_since_serial`. The journal only ever holds public events, and every listing
starts from published releases, so draft activity is invisible here until the draft is
published, at which point its events appear with new serials and mirrors pick it up.

One request is one call, whose answer is bounded: `system.multicall` is refused (as on
pypi.org; bandersnatch never sends it), since it let one small anonymous request ask for
the journal hundreds of times over, and the changelog calls answer at most
`MAX_CHANGELOG_ROWS` rows (mirrors call again from the last serial they saw).

Malformed requests get an XML-RPC fault (or a 4xx for what is not XML-RPC at all), never
a 500, and a fault says what was wrong with the call in words of its own, never Python's
exception text. Every string is cleaned of what XML cannot carry on the way out.
"""

from __future__ import annotations

import inspect
import logging
import xmlrpc.client
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from releases.models import JournalEntry, Project
from releases.selectors import by_version, find_release, latest_release, public_project, published_releases
from simpleindex.feeds import xml_text
from simpleindex.jsonapi import file_data

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
# pypi.org answers at most this many journal rows per call; mirrors call again.
MAX_CHANGELOG_ROWS = 50_000
# Journal ids are 64-bit; a timestamp past the year 9999 is no moment at all.
MAX_SERIAL = 2**63 - 1
MAX_TIMESTAMP = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())

# The codes of the XML-RPC "specification for fault code interoperability".
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class CallError(Exception):
    """A call this endpoint will not answer: becomes a fault with exactly this message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _integer(value: Any, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CallError(INVALID_PARAMS, f"{name} must be an integer.")
    if value > high:
        raise CallError(INVALID_PARAMS, f"{name} must be at most {high}.")
    return max(value, low)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise CallError(INVALID_PARAMS, f"{name} must be a boolean.")


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise CallError(INVALID_PARAMS, f"{name} must be a string.")
    return value


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
        """Journal rows after `since_serial`, oldest first, at most MAX_CHANGELOG_ROWS."""
        since_serial = _integer(since_serial, "since_serial", low=0, high=MAX_SERIAL)
        entries = JournalEntry.objects.filter(id__gt=since_serial).order_by("id")[:MAX_CHANGELOG_ROWS]
        return _changelog_rows(entries, with_ids=True)

    def changelog(self, since: int, with_ids: bool = False) -> list[list[Any]]:
        """Journal rows after the Unix time `since`, oldest first, at most MAX_CHANGELOG_ROWS."""
        moment = datetime.fromtimestamp(_integer(since, "since", low=0, high=MAX_TIMESTAMP), tz=UTC)
        entries = JournalEntry.objects.filter(submitted_date__gt=moment).order_by("id")[:MAX_CHANGELOG_ROWS]
        return _changelog_rows(entries, with_ids=_flag(with_ids, "with_ids"))

    def package_releases(self, package_name: str, show_hidden: bool = False) -> list[str]:
        """Newest first; only the latest one unless `show_hidden` (as on pypi.org)."""
        project = public_project(_string(package_name, "package_name"))
        if project is None:
            return []
        releases = by_version(published_releases(project), newest_first=True)
        if _flag(show_hidden, "show_hidden"):
            return [release.version for release in releases]
        latest = latest_release(releases)
        return [latest.version] if latest else []

    def release_urls(self, package_name: str, version: str) -> list[dict[str, Any]]:
        """The files of one published release, as in pypi.org's JSON API."""
        project = public_project(_string(package_name, "package_name"))
        version = _string(version, "version")
        release = find_release(published_releases(project), version) if project else None
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


CALLS = (
    "list_packages",
    "list_packages_with_serial",
    "changelog_last_serial",
    "changelog_since_serial",
    "changelog",
    "package_releases",
    "release_urls",
)
INTROSPECTION = ("system.listMethods", "system.methodHelp", "system.methodSignature")


def _usage(name: str, function: Callable[..., Any]) -> str:
    params = [
        param.name if param.default is inspect.Parameter.empty else f"{param.name}={param.default!r}"
        for param in inspect.signature(function).parameters.values()
    ]
    return f"{name}({', '.join(params)})"


def _method_help(name: Any) -> str:
    if name not in CALLS:
        return ""
    return inspect.getdoc(getattr(PyPIRPC, name)) or ""


def _method_signature(name: Any) -> str:
    return "signatures not supported"


def _call(request: HttpRequest, body: bytes) -> Any:
    """Parse one methodCall and answer it; a refusal raises CallError."""
    try:
        params, method = xmlrpc.client.loads(body, use_builtin_types=False)
    except Exception:  # expat, the unmarshaller and int() each raise their own kind
        raise CallError(PARSE_ERROR, "Malformed request: POST one XML-RPC methodCall.") from None
    if not isinstance(method, str):
        raise CallError(INVALID_REQUEST, "Malformed request: POST one XML-RPC methodCall, not a response.")
    if method == "system.multicall":
        raise CallError(
            METHOD_NOT_FOUND,
            "system.multicall is not supported (nor on pypi.org): send each call as a request of its own.",
        )
    if method in CALLS:
        function = getattr(PyPIRPC(request), method)
    elif method in INTROSPECTION:
        function = {
            "system.listMethods": lambda: sorted(CALLS + INTROSPECTION),
            "system.methodHelp": _method_help,
            "system.methodSignature": _method_signature,
        }[method]
    else:
        raise CallError(METHOD_NOT_FOUND, f"Unknown method {method[:60]!r}: see system.listMethods.")
    try:
        inspect.signature(function).bind(*params)
    except TypeError:
        raise CallError(INVALID_PARAMS, f"Wrong number of parameters: call {_usage(method, function)}.") from None
    return function(*params)


def _xml_safe(value: Any) -> Any:
    """`value` with every string cleaned of what XML cannot carry (whatever is stored)."""
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, list):
        return [_xml_safe(item) for item in value]
    if isinstance(value, dict):
        return {xml_text(str(key)): _xml_safe(item) for key, item in value.items()}
    return value


def _fault(code: int, message: str) -> str:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True, encoding="utf-8")


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
    try:
        result = _call(request, body)
        payload = xmlrpc.client.dumps((_xml_safe(result),), methodresponse=True, allow_none=False, encoding="utf-8")
    except CallError as exc:
        payload = _fault(exc.code, exc.message)
    except (OperationalError, InterfaceError):
        raise  # the database is away: pypidraft.unavailable answers 503 with Retry-After
    except Exception:
        logger.exception("XML-RPC call failed")
        payload = _fault(INTERNAL_ERROR, "This call could not be answered; the server logged why. Try again later.")
    return HttpResponse(payload, content_type="text/xml; charset=utf-8")
