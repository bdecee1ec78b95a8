"""The legacy upload endpoint (`POST /legacy/`, `POST /legacy/draft/`), as twine and uv speak it.

A thin edge: authenticate → read the form (releases.uploads.form) → check it
(releases.uploads.validation) → add the file (releases.services.uploads) → answer in
plain text, with the message in the status line too, where twine prints it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from releases.accounts.authentication import AuthenticationFailed, Principal, authenticate_header
from releases.accounts.ratelimit import RateLimited
from releases.errors import UploadError
from releases.links import draft_index_url, preview_url
from releases.services import IncomingFile, UploadOutcome, add_file_to_release, draft_token
from releases.services.actors import client_ip
from releases.storage import StorageUnavailable
from releases.uploads.form import ReceivedFile, parse_is_draft, read_form
from releases.uploads.validation import ValidatedUpload, validate_upload


def status_response(status: int, message: str, **headers: str) -> HttpResponse:
    """Plain-text response with the message in the status line too, where twine prints it."""
    reason = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in message)[:400]
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8", reason=reason)
    for key, value in headers.items():
        response[key] = value
    return response


def unauthorized(message: str) -> HttpResponse:
    return status_response(401, message, **{"WWW-Authenticate": 'Basic realm="pypidraft"'})


@csrf_exempt
@require_POST
def upload(request: HttpRequest, draft_endpoint: bool = False) -> HttpResponse:
    address = client_ip(request)
    try:
        principal = authenticate_header(request.META.get("HTTP_AUTHORIZATION"), client_ip=address)
    except AuthenticationFailed as exc:
        return unauthorized(exc.message)
    except RateLimited as exc:
        return status_response(429, str(exc), **{"Retry-After": str(exc.retry_after)})
    received = None
    try:
        draft_requested = draft_endpoint or parse_is_draft(request.headers.get("Is-Draft"))
        form, received = read_form(request, max_bytes=settings.PYPIDRAFT_MAX_UPLOAD_BYTES)
        checked = validate_upload(form, received, principal)
        outcome = _add(checked, received, principal, draft_requested, address)
    except UploadError as exc:
        return status_response(exc.status, exc.message)
    except StorageUnavailable as exc:
        return status_response(503, str(exc), **{"Retry-After": "30"})
    finally:
        if received is not None:
            received.close()
    return HttpResponse("\n".join(_answer(request, outcome)) + "\n", content_type="text/plain; charset=utf-8")


def _add(
    checked: ValidatedUpload, received: ReceivedFile, principal: Principal, draft: bool, address: str | None
) -> UploadOutcome:
    incoming = IncomingFile(
        filename=received.raw_name,
        packagetype=checked.filetype,
        python_version=checked.python_version,
        local_path=received.path,
        size=received.size,
        sha256=checked.digests["sha256_digest"],
        blake2_256=checked.digests["blake2_256_digest"],
        md5=checked.digests["md5_digest"],
        metadata=checked.file_metadata,
        requires_python=checked.metadata["requires_python"],
    )
    return add_file_to_release(
        project_name=checked.name,
        normalized_name=checked.normalized_name,
        version=checked.version,
        version_string=checked.version_string,
        incoming=incoming,
        metadata=checked.metadata,
        principal=principal,
        draft_requested=draft,
        client_ip=address,
    )


def _answer(request: HttpRequest, outcome: UploadOutcome) -> list[str]:
    """What twine --verbose shows: what happened (its first line says DRAFT for a draft, so
    nobody mistakes a draft upload for a release), and a draft's private links."""
    release, filename = outcome.release, outcome.file.filename
    where = f"{release.project.name} {release.version}"
    if not release.is_draft:
        lines = {
            "new": f"Uploaded {filename} to {where}.",
            "replaced": f"Replaced {filename} in {where}.",
            "unchanged": f"{filename} already exists with identical contents; nothing changed.",
        }
        return [lines[outcome.result]]
    not_public = "it is not public until you publish it."
    lines = {
        "new": f"DRAFT: {filename} uploaded to {where}, which is a draft: {not_public}",
        "replaced": f"DRAFT: Replaced {filename} in {where}, which is a draft: {not_public}",
        "unchanged": f"DRAFT: {filename} already exists with identical contents in {where}, which is a draft: "
        f"nothing changed, and {not_public}",
    }
    token = draft_token(release)
    index_url = draft_index_url(request, token)
    return [
        lines[outcome.result],
        f"Draft index: {index_url}",
        f"Preview:     {preview_url(request, release, token)}",
        f"Install:     pip install --extra-index-url {index_url} {release.project.normalized_name}=={release.version}",
    ]
