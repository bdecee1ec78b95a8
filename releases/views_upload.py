"""The legacy upload endpoint: a thin edge over releases.upload and releases.services."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from releases.auth import AuthenticationFailed, authenticate_header
from releases.errors import UploadError
from releases.ratelimit import RateLimited
from releases.services import IncomingFile, add_file_to_release, draft_token
from releases.storage import StorageUnavailable
from releases.upload import parse_is_draft, read_form, validate_upload
from releases.urls_util import draft_index_url, preview_url

logger = logging.getLogger(__name__)


def status_response(status: int, message: str, **headers: str) -> HttpResponse:
    """Plain-text response with the message in the status line too, where twine prints it."""
    reason = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in message)[:400]
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8", reason=reason)
    for key, value in headers.items():
        response[key] = value
    return response


def unauthorized(message: str) -> HttpResponse:
    return status_response(401, message, **{"WWW-Authenticate": 'Basic realm="pypidraft"'})


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@csrf_exempt
@require_POST
def upload(request: HttpRequest, draft_endpoint: bool = False) -> HttpResponse:
    try:
        principal = authenticate_header(request.META.get("HTTP_AUTHORIZATION"), client_ip=client_ip(request))
    except AuthenticationFailed as exc:
        return unauthorized(exc.message)
    except RateLimited as exc:
        return status_response(429, str(exc), **{"Retry-After": str(exc.retry_after)})
    received = None
    try:
        draft_requested = draft_endpoint or parse_is_draft(request.headers.get("Is-Draft"))
        form, received = read_form(request, max_bytes=settings.PYPIDRAFT_MAX_UPLOAD_BYTES)
        upload = validate_upload(form, received, principal)
        incoming = IncomingFile(
            filename=received.raw_name,
            packagetype=upload.filetype,
            python_version=upload.python_version,
            local_path=received.path,
            size=received.size,
            sha256=upload.digests["sha256_digest"],
            blake2_256=upload.digests["blake2_256_digest"],
            md5=upload.digests["md5_digest"],
            metadata=upload.file_metadata,
            requires_python=upload.metadata["requires_python"],
        )
        outcome = add_file_to_release(
            project_name=upload.name,
            normalized_name=upload.normalized_name,
            version=upload.version,
            version_string=upload.version_string,
            incoming=incoming,
            metadata=upload.metadata,
            principal=principal,
            draft_requested=draft_requested,
            client_ip=client_ip(request),
        )
    except UploadError as exc:
        return status_response(exc.status, exc.message)
    except StorageUnavailable as exc:
        return status_response(503, str(exc), **{"Retry-After": "30"})
    finally:
        if received is not None:
            received.close()

    release = outcome.release
    lines = {
        "new": f"Uploaded {incoming.filename} to {release.project.name} {release.version}.",
        "replaced": f"Replaced {incoming.filename} in the draft of {release.project.name} {release.version}.",
        "unchanged": f"{incoming.filename} already exists with identical contents; nothing changed.",
    }
    body = [lines[outcome.result]]
    if release.is_draft:
        token = draft_token(release)
        body += [
            f"{release.project.name} {release.version} is a DRAFT: it is not public until you publish it.",
            f"Draft index: {draft_index_url(request, token)}",
            f"Preview:     {preview_url(request, release, token)}",
            f"Install:     pip install --extra-index-url {draft_index_url(request, token)} "
            f"{release.project.normalized_name}=={release.version}",
        ]
    return HttpResponse("\n".join(body) + "\n", content_type="text/plain; charset=utf-8")
