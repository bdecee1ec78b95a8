"""Reading a legacy upload's body: the form fields, and the file streamed to a temporary
file while it is hashed and its size is checked (releases.uploads.multipart parses)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import UnreadablePostError
from django.utils.datastructures import MultiValueDict

from releases.errors import UploadError
from releases.uploads import multipart

# Room for the metadata form fields that travel next to the file.
FORM_OVERHEAD_BYTES = 16 * 1024 * 1024


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
