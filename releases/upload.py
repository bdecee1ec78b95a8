"""The legacy upload pipeline (`POST /legacy/`, `POST /legacy/draft/`), as twine and uv speak it.

Small steps, each raising `UploadError(status, message)`:
authenticate → read the form, streaming the file to a temporary file while hashing,
with a size limit → validate name, version, filename → check digests → inspect the
archive → authorize → store and record (services.add_file_to_release).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import UnreadablePostError
from django.utils.datastructures import MultiValueDict
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from releases import hotpath, multipart
from releases.auth import Principal
from releases.distributions import inspect_sdist, inspect_wheel, parse_filename, validate_project_name, validate_version
from releases.errors import UploadError
from releases.models import File
from releases.services import LARGE_FILE_BYTES, check_upload_rights

# Room for the metadata form fields that travel next to the file.
FORM_OVERHEAD_BYTES = 16 * 1024 * 1024

SHORT_FIELDS = {
    "name": 200,
    "version": 100,
    "filetype": 20,
    "pyversion": 100,
    "metadata_version": 10,
    "summary": 512,
    "description_content_type": 128,
    "requires_python": 256,
    "md5_digest": 32,
    "sha256_digest": 64,
    "blake2_256_digest": 64,
}
TEXT_FIELDS = (
    "description",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "keywords",
    "home_page",
    "download_url",
)


def parse_is_draft(value: str | None) -> bool:
    """`Is-Draft`: true/1 mean draft, false/0/absent mean not; anything else is an error."""
    if value is None:
        return False
    normalized = value.strip().lower()
    if normalized in ("true", "1"):
        return True
    if normalized in ("false", "0"):
        return False
    raise UploadError(
        400, f"Invalid Is-Draft header {value[:40]!r}: use 'true' or '1' for a draft, 'false' or '0' otherwise."
    )


@dataclass
class ReceivedFile:
    """The `content` part: streamed to a temporary file, hashed on the way."""

    raw_name: str
    tmp: Any
    size: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    blake2_256: Any = field(default_factory=lambda: hashlib.blake2b(digest_size=32))
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))

    @property
    def path(self) -> str:
        return self.tmp.name

    def close(self) -> None:
        self.tmp.close()


class _ContentSink:
    """Where the `content` part goes: hashed, size-checked, written to `received.tmp`."""

    def __init__(self, received: ReceivedFile, max_bytes: int):
        self.received = received
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> None:
        received = self.received
        received.size += len(data)
        if received.size > self.max_bytes:
            raise UploadError(400, file_too_large_message(self.max_bytes))
        received.sha256.update(data)
        received.blake2_256.update(data)
        received.md5.update(data)
        received.tmp.write(data)

    def finish(self) -> None:
        self.received.tmp.flush()


def file_too_large_message(limit: int) -> str:
    return f"File too large. Limit is {limit // (1024 * 1024)} MiB ({limit} bytes); contact the index's admins for a larger limit."


def read_form(request, *, max_bytes: int) -> tuple[MultiValueDict, ReceivedFile | None]:
    """Parse the multipart body, streaming the file to a temporary file while hashing it."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadError(400, "Invalid request: uploads must be sent as multipart/form-data (as twine and uv do).")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise UploadError(400, "Invalid Content-Length header.") from None
    if declared > max_bytes + FORM_OVERHEAD_BYTES:
        raise UploadError(400, file_too_large_message(max_bytes))
    received: ReceivedFile | None = None

    def new_file(field_name: str, filename: str) -> _ContentSink | None:
        nonlocal received
        if field_name != "content":
            return None
        if received is not None:
            raise UploadError(400, "Send exactly one file, in the 'content' field.")
        tmp = tempfile.NamedTemporaryFile(prefix="pypidraft-upload-", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 - closed by the view
        received = ReceivedFile(raw_name=filename, tmp=tmp)
        return _ContentSink(received, max_bytes)

    try:
        form = multipart.parse_form(
            request.read,
            declared,
            multipart.boundary_of(content_type),
            new_file=new_file,
            max_field_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            max_parts=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except UploadError:
        _close(received)
        raise
    except (multipart.MultipartError, UnreadablePostError, OSError) as exc:
        _close(received)
        raise UploadError(400, f"Invalid multipart body: {str(exc)[:200]}") from None
    return form, received


def _close(received: ReceivedFile | None) -> None:
    if received is not None:
        received.close()


def check_action(form: MultiValueDict) -> None:
    action = form.get(":action")
    if action != "file_upload":
        raise UploadError(400, f"Unknown :action {str(action)[:40]!r}: this index supports only 'file_upload'.")
    protocol = form.get("protocol_version", "1")
    if protocol != "1":
        raise UploadError(400, f"Unknown protocol_version {protocol[:20]!r}: this index speaks version 1.")


CONTROL = re.compile(r"[\x00-\x1f]")


def check_fields(form: MultiValueDict) -> None:
    """Reject values the database could not store or a person could not mean."""
    for key, values in form.lists():
        for value in values:
            if "\x00" in value:
                raise UploadError(400, f"Invalid value for {key[:40]!r}: it contains a NUL byte.")
    for key, limit in SHORT_FIELDS.items():
        value = form.get(key, "")
        if len(value) > limit:
            raise UploadError(400, f"Invalid value for {key}: at most {limit} characters are allowed.")
        if key != "summary" and key != "version" and CONTROL.search(value):
            raise UploadError(400, f"Invalid value for {key}: control characters are not allowed.")
    if "\n" in form.get("summary", "") or "\r" in form.get("summary", ""):
        raise UploadError(400, "Invalid value for summary: use a single line.")


HEX = re.compile(r"^[0-9a-f]+$")


def check_digests(form: MultiValueDict, received: ReceivedFile) -> dict[str, str]:
    computed = {
        "md5_digest": received.md5.hexdigest(),
        "sha256_digest": received.sha256.hexdigest(),
        "blake2_256_digest": received.blake2_256.hexdigest(),
    }
    supplied = {key: form.get(key, "").strip().lower() for key in computed if form.get(key, "").strip()}
    if not supplied:
        raise UploadError(400, "Include at least one message digest (sha256_digest, blake2_256_digest or md5_digest).")
    for key, value in supplied.items():
        if not HEX.match(value) or not hmac.compare_digest(value, computed[key]):
            raise UploadError(
                400,
                f"The digest supplied ({key}) does not match a digest calculated from the uploaded file: "
                "the file was changed or truncated in transit. Upload it again.",
            )
    return computed


def release_metadata(form: MultiValueDict) -> dict[str, Any]:
    metadata: dict[str, Any] = {name: form.get(name, "") for name in TEXT_FIELDS}
    for name in ("metadata_version", "summary", "description_content_type", "requires_python"):
        metadata[name] = form.get(name, "").strip() if name != "summary" else form.get(name, "")
    if metadata["requires_python"]:
        try:
            SpecifierSet(metadata["requires_python"])
        except InvalidSpecifier:
            raise UploadError(
                400, f"Invalid requires_python {metadata['requires_python'][:100]!r}: use a specifier such as '>=3.9'."
            ) from None
    requires_dist = [value for value in form.getlist("requires_dist") if value.strip()]
    for requirement in requires_dist:
        try:
            Requirement(requirement)
        except InvalidRequirement:
            raise UploadError(400, f"Invalid requires_dist {requirement[:100]!r}: not a PEP 508 requirement.") from None
    metadata["requires_dist"] = requires_dist
    metadata["classifiers"] = [value for value in form.getlist("classifiers") if value.strip()]
    metadata["provides_extra"] = [value for value in form.getlist("provides_extra") if value.strip()]
    metadata["platform"] = [value for value in form.getlist("platform") if value.strip()]
    urls = {}
    for entry in form.getlist("project_urls"):
        label, sep, url = entry.partition(",")
        if sep and label.strip() and url.strip():
            urls[label.strip()[:100]] = url.strip()
    metadata["project_urls"] = urls
    return metadata


def authorize_early(principal: Principal, normalized_name: str) -> None:
    """Refuse uploads to someone else's project before reading any archive."""
    project = hotpath.project_for_upload(normalized_name, principal.user)
    if project is not None:
        check_upload_rights(principal, project, project.user_role)


@dataclass
class ValidatedUpload:
    name: str
    normalized_name: str
    version_string: str
    version: Any
    filetype: str
    python_version: str
    metadata: dict[str, Any]
    file_metadata: bytes | None
    digests: dict[str, str]


def validate_upload(form: MultiValueDict, received: ReceivedFile | None, principal: Principal) -> ValidatedUpload:
    check_action(form)
    check_fields(form)
    name = form.get("name", "").strip()
    normalized_name = validate_project_name(name)
    version_string = form.get("version", "").strip()
    version = validate_version(version_string)
    if received is None or received.size > LARGE_FILE_BYTES:
        # A small file's rights are checked with the project's lock (one round trip
        # less; a refused file's object is deleted again); a large one is refused before
        # its archive is read and its transfer starts.
        authorize_early(principal, normalized_name)
    if received is None:
        raise UploadError(400, "Upload payload does not have a file: send it in the 'content' field.")
    filetype = form.get("filetype", "")
    if filetype not in (File.WHEEL, File.SDIST):
        raise UploadError(400, f"Invalid filetype {filetype[:40]!r}: use 'bdist_wheel' or 'sdist'.")
    info = parse_filename(received.raw_name, filetype=filetype, name=normalized_name, version=version)
    digests = check_digests(form, received)
    if received.size == 0:
        raise UploadError(400, "Invalid distribution file: the file is empty.")
    received.tmp.flush()
    if filetype == File.WHEEL:
        file_metadata = inspect_wheel(received.path, info=info, size=received.size)
    else:
        inspect_sdist(received.path, info=info, size=received.size)
        file_metadata = None
    return ValidatedUpload(
        name=name,
        normalized_name=normalized_name,
        version_string=version_string,
        version=version,
        filetype=filetype,
        python_version=info.python_version,
        metadata=release_metadata(form),
        file_metadata=file_metadata,
        digests=digests,
    )
