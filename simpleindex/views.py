"""Read side for installers and mirrors: the simple index, per-draft indexes, downloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import reverse
from django.views.decorators.http import require_safe
from packaging.utils import canonicalize_name

from releases.http import private, private_headers, public_validator
from releases.models import File, JournalEntry, Project, Release
from releases.storage import STORAGE_ERRORS, packages_storage
from simpleindex import builder
from simpleindex.models import RenderedPage

# Bump when the rendered output changes shape, so validators from older code never match.
RENDER_VERSION = "2"

DIGEST_PATH = re.compile(r"^[0-9a-f]{2}$")


FORMAT_CODES = {builder.JSON_V1: "j", builder.HTML_V1: "h", builder.TEXT_HTML: "t"}


def etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    return header.strip() == "*" or etag in [tag.strip() for tag in header.split(",")]


def public_index_headers(*, content_type: str, serial: int | None, validator: str) -> dict[str, str]:
    """Headers of a public index page; the stored-page fast path sends exactly these too."""
    return {
        "Vary": "Accept",
        "X-PyPI-Last-Serial": str(serial or 0),
        # Keyed: the validator names the project's id, whose gaps would reveal hidden projects.
        "ETag": f'"{public_validator(validator)}-{FORMAT_CODES[content_type]}-r{RENDER_VERSION}"',
        # Revalidate every time: a cache may keep the bytes but must ask whether they changed.
        "Cache-Control": "max-age=0, must-revalidate",
    }


def index_response(
    request: HttpRequest,
    *,
    build: Callable[[], dict[str, Any]],
    template: str,
    serial: int | None,
    validator: str | None,
    cache_key: str | None = None,
) -> HttpResponse:
    """Negotiate, answer conditional requests, render (or reuse the stored rendering).

    `validator` None means a private page: no validators, never stored.
    """
    try:
        content_type = builder.choose_content_type(request)
    except builder.NotAcceptable as exc:
        # Another Accept header may get a page: caches must key this answer on it too.
        return HttpResponse(
            str(exc) + "\n", status=406, content_type="text/plain; charset=utf-8", headers={"Vary": "Accept"}
        )
    if validator is None:
        headers = {"Vary": "Accept", "X-PyPI-Last-Serial": str(serial or 0), **private_headers(token_in_url=True)}
    else:
        headers = public_index_headers(content_type=content_type, serial=serial, validator=validator)
        if etag_matches(request, headers["ETag"]):
            return _with_headers(HttpResponse(status=304), headers)
    if cache_key is not None:
        body = _rendered(
            cache_key, content_type, serial or 0, lambda: builder.render(build(), content_type, template=template)
        )
    else:
        body = builder.render(build(), content_type, template=template)
    return _with_headers(HttpResponse(body, content_type=builder.served_content_type(content_type)), headers)


def _with_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for key, value in headers.items():
        response[key] = value
    return response


def stored_page(key: str, fmt: str, serial: int) -> bytes | None:
    """The stored rendering of a page for exactly this serial, if any."""
    stored = RenderedPage.objects.filter(key=key, fmt=fmt, serial=serial).values_list("body", flat=True).first()
    return bytes(stored) if stored is not None else None


def _rendered(key: str, content_type: str, serial: int, render: Callable[[], bytes]) -> bytes:
    fmt = FORMAT_CODES[content_type] + RENDER_VERSION
    body = stored_page(key, fmt, serial)
    if body is not None:
        return body
    body = render()
    try:
        with transaction.atomic():
            RenderedPage.objects.update_or_create(key=key, fmt=fmt, defaults={"serial": serial, "body": body})
    except (IntegrityError, OperationalError):
        # Another worker stored it at the same moment; serving our own rendering is right too.
        pass
    return body


def _global_serial() -> int:
    return JournalEntry.objects.aggregate(m=Max("id"))["m"] or 0


def _public_file_url(row: dict[str, Any]) -> str:
    return "/packages/" + row["path"]


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    serial = _global_serial()

    def build() -> dict[str, Any]:
        projects = Project.objects.public().order_by("normalized_name").values_list("normalized_name", "last_serial")
        return builder.root_data(serial=serial, projects=projects)

    return index_response(
        request, build=build, template="simpleindex/root.html", serial=serial, validator=f"s{serial}", cache_key="root"
    )


@require_safe
def project_detail(request: HttpRequest, project_name: str) -> HttpResponse:
    normalized = canonicalize_name(project_name)
    if normalized != project_name:
        return _redirect_preserving_query(request, reverse("simpleindex:project-detail", args=[normalized]))
    project = (
        Project.objects.public().filter(normalized_name=normalized).only("pk", "normalized_name", "last_serial").first()
    )
    if project is None:
        raise Http404("No such project.")

    def build() -> dict[str, Any]:
        return builder.project_data(
            name=project.normalized_name,
            serial=project.last_serial,
            versions=Release.objects.published().filter(project=project).values_list("version", flat=True),
            files=File.objects.published().filter(release__project=project).values(*builder.FILE_FIELDS),
            urls=builder.FileUrls(file_url=_public_file_url),
        )

    return index_response(
        request,
        build=build,
        template="simpleindex/project.html",
        serial=project.last_serial,
        validator=f"p{project.pk}s{project.last_serial}",
        cache_key=f"project:{project.pk}",
    )


def _redirect_preserving_query(request: HttpRequest, location: str) -> HttpResponse:
    query = request.META.get("QUERY_STRING")
    return HttpResponsePermanentRedirect(f"{location}?{query}" if query else location)


# --- a draft's own index -------------------------------------------------------------------


def _draft_or_redirect(token: str, public_location: Callable[[Release], str]) -> Release:
    release = Release.objects.for_draft_token(token)
    if release is not None:
        return release
    published = Release.objects.for_retired_token(token)
    if published is not None:
        raise _Redirect(public_location(published))
    raise Http404("Unknown or expired draft link.")


class _Redirect(Exception):
    def __init__(self, location: str):
        self.location = location


def draft_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn a retired (published) draft link into a permanent redirect, privately."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except _Redirect as redirect:
            return private(HttpResponsePermanentRedirect(redirect.location), token_in_url=True)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return require_safe(wrapper)


@draft_view
def draft_root(request: HttpRequest, token: str) -> HttpResponse:
    release = _draft_or_redirect(token, lambda _published: reverse("simpleindex:root"))
    project = release.project
    return index_response(
        request,
        build=lambda: builder.root_data(
            serial=project.last_serial, projects=[(project.normalized_name, project.last_serial)]
        ),
        template="simpleindex/root.html",
        serial=project.last_serial,
        validator=None,
    )


@draft_view
def draft_project_detail(request: HttpRequest, token: str, project_name: str) -> HttpResponse:
    release = _draft_or_redirect(
        token, lambda published: reverse("simpleindex:project-detail", args=[published.project.normalized_name])
    )
    project = release.project
    normalized = canonicalize_name(project_name)
    if normalized != project.normalized_name:
        raise Http404("This draft index serves only its own project.")
    if normalized != project_name:
        location = reverse("simpleindex:draft-project-detail", args=[token, normalized])
        return private(_redirect_preserving_query(request, location), token_in_url=True)
    prefix = reverse("simpleindex:draft-root", args=[token]) + "packages/"

    def build() -> dict[str, Any]:
        return builder.project_data(
            name=project.normalized_name,
            serial=project.last_serial,
            versions=[release.version],
            files=File.objects.filter(release=release).values(*builder.FILE_FIELDS),
            urls=builder.FileUrls(file_url=lambda row: prefix + row["path"]),
        )

    return index_response(
        request, build=build, template="simpleindex/project.html", serial=project.last_serial, validator=None
    )


@draft_view
def draft_file(request: HttpRequest, token: str, aa: str, bb: str, rest: str, filename: str) -> HttpResponse:
    release = _draft_or_redirect(
        token, lambda _published: reverse("simpleindex:package-file", args=[aa, bb, rest, filename])
    )
    stored, want_metadata = _find_file(File.objects.filter(release=release), aa, bb, rest, filename)
    return private(_serve(request, stored, want_metadata, public=False), token_in_url=True)


# --- downloads -----------------------------------------------------------------------------


def _find_file(files, aa: str, bb: str, rest: str, filename: str) -> tuple[File, bool]:
    want_metadata = filename.endswith(".metadata")
    if want_metadata:
        filename = filename[: -len(".metadata")]
    digest = aa + bb + rest
    if not (DIGEST_PATH.match(aa) and DIGEST_PATH.match(bb) and re.fullmatch(r"[0-9a-f]{60}", rest)):
        raise Http404("No such file.")
    stored = files.filter(blake2_256_digest=digest, filename=filename).first()
    if stored is None or (want_metadata and not stored.has_metadata):
        raise Http404("No such file.")
    return stored, want_metadata


@require_safe
def package_file(request: HttpRequest, aa: str, bb: str, rest: str, filename: str) -> HttpResponse:
    stored, want_metadata = _find_file(File.objects.published(), aa, bb, rest, filename)
    return _serve(request, stored, want_metadata, public=True)


def _serve(request: HttpRequest, stored: File, want_metadata: bool, *, public: bool) -> HttpResponse:
    if want_metadata:
        response = HttpResponse(bytes(stored.metadata), content_type="text/plain; charset=utf-8")
        if public:
            response["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
    if settings.PYPIDRAFT_STORAGE == "s3":
        # Bytes go straight from the object store; the signed URL is short-lived.
        try:
            location = packages_storage().url(stored.path)
        except STORAGE_ERRORS:
            return HttpResponse("The package storage is unavailable; try again later.\n", status=503)
        response = HttpResponseRedirect(location)
        response["Cache-Control"] = "private, max-age=60"
        return response
    return _ranged_file_response(request, stored, public=public)


# Bounded: offsets beyond 19 digits are no file's, and Python refuses to parse 4300+ digits.
RANGE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


def _ranged_file_response(request: HttpRequest, stored: File, *, public: bool) -> HttpResponse:
    try:
        handle = packages_storage().open(stored.path, "rb")
    except STORAGE_ERRORS:
        return HttpResponse("The stored file is unavailable; try again later.\n", status=503)
    size = stored.size
    header = request.headers.get("Range", "")
    match = RANGE.match(header.strip()) if header else None
    if header and match and (match.group(1) or match.group(2)):
        start_text, end_text = match.groups()
        if start_text:
            start = int(start_text)
            end = min(int(end_text), size - 1) if end_text else size - 1
        else:
            start = max(size - int(end_text), 0)
            end = size - 1
        if start >= size or start > end:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        handle.seek(start)
        response = StreamingHttpResponse(
            _read_range(handle, end - start + 1), status=206, content_type="application/octet-stream"
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    else:
        response = FileResponse(handle, content_type="application/octet-stream")
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{stored.filename}"'
    response["ETag"] = f'"{stored.sha256_digest}"'
    if public:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def _read_range(handle, length: int, chunk: int = 256 * 1024):
    try:
        while length > 0:
            data = handle.read(min(chunk, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()
