"""The upload's multipart/form-data reader (RFC 7578, RFC 2046 section 5.1).

Django's MultiPartParser cost about 1 ms per twine upload (a dozen parts, 2.6 KB) on the
benchmark machine: the largest piece of an upload's Python. This reader finds the
delimiters with `bytes.find` and costs a tenth of that. It streams: file parts go to a
sink chunk by chunk (the upload hashes them and writes them to a temporary file), fields
stay in memory up to a limit. It is strict where browsers and upload clients never need
leniency: every malformed piece raises MultipartError with what is wrong, which the
upload answers with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote

from django.utils.datastructures import MultiValueDict

CHUNK_BYTES = 256 * 1024
MAX_HEADER_BYTES = 16 * 1024
# RFC 2046 allows 70 characters; Django (and so far this index) takes up to 200.
BOUNDARY = re.compile(r"[ -~]{0,199}[!-~]")
BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))', re.IGNORECASE)
# One `; key=value` of a Content-Disposition header, the value a token or a quoted string.
PARAM = re.compile(r'\s*;\s*([^\s=;"]+)\s*=\s*(?:"((?:[^"\\\r\n]|\\[^\r\n])*)"|([^\s;"]*))\s*')
# Like Django and browsers: only \\ and \" are escapes; other backslashes are kept.
QUOTED_PAIR = re.compile(r'\\([\\"])')
PADDING = b" \t"
# The headers twine, uv and browsers send, read in one match; anything else takes the
# general reader below, which reads these the same way.
COMMON_HEADERS = re.compile(
    rb'Content-Disposition: form-data; name="([^"\\\r\n]*)"(?:; filename="([^"\\\r\n]*)")?'
    rb"(?:\r\nContent-Type: [^\r\n]*)?"
)


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data; the message says where."""


class FileSink(Protocol):
    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...


def boundary_of(content_type: str) -> bytes:
    """The boundary of a `multipart/form-data; boundary=...` Content-Type."""
    match = BOUNDARY_PARAM.search(content_type)
    boundary = (match.group(1) if match.group(1) is not None else match.group(2)) if match else ""
    if match and match.group(1) is not None:
        boundary = QUOTED_PAIR.sub(r"\1", boundary)
    if not boundary:
        raise MultipartError("the Content-Type has no boundary parameter.")
    if not BOUNDARY.fullmatch(boundary):
        raise MultipartError("the boundary must be 1 to 200 printable ASCII characters.")
    return boundary.encode("ascii")


def parse_form(
    read: Callable[[int], bytes],
    length: int,
    boundary: bytes,
    *,
    new_file: Callable[[str, str], FileSink | None],
    max_field_bytes: int,
    max_parts: int,
) -> MultiValueDict:
    """Read `length` bytes of body through `read` and return the fields.

    A part with a filename is a file: `new_file(field name, filename)` returns where its
    bytes go, or None to skip it. Fields must be UTF-8; their bytes together may not pass
    `max_field_bytes`, nor the parts `max_parts`.
    """
    return _Parser(read, length, boundary).parse(new_file, max_field_bytes, max_parts)


class _Parser:
    def __init__(self, read: Callable[[int], bytes], length: int, boundary: bytes):
        self._read = read
        self._remaining = max(length, 0)
        # The CRLF before a boundary belongs to it; a body may start with the boundary.
        self.delimiter = b"\r\n--" + boundary
        self.buf = b"\r\n"
        self.pos = 0

    def _more(self) -> bool:
        """Append the next chunk to what is left of the buffer; False at the end."""
        if self._remaining <= 0:
            return False
        chunk = self._read(min(self._remaining, CHUNK_BYTES))
        if not chunk:
            self._remaining = 0
            return False
        self._remaining -= len(chunk)
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _need(self, count: int, what: str) -> None:
        while len(self.buf) - self.pos < count:
            if not self._more():
                raise MultipartError(f"the body is truncated {what}.")

    def parse(
        self, new_file: Callable[[str, str], FileSink | None], max_field_bytes: int, max_parts: int
    ) -> MultiValueDict:
        fields: dict[str, list[str]] = {}
        field_bytes = 0
        parts = 0
        self._skip_preamble()
        while self._after_delimiter():
            parts += 1
            if parts > max_parts:
                raise MultipartError(f"more than {max_parts} parts.")
            name, filename = self._part_headers()
            if filename is None:
                value = self._field_body(max_field_bytes - field_bytes, name)
                field_bytes += len(value)
                try:
                    fields.setdefault(name, []).append(value.decode("utf-8"))
                except UnicodeDecodeError:
                    raise MultipartError(f"the value of {name[:40]!r} is not UTF-8 text.") from None
            else:
                sink = new_file(name, filename) if filename else None
                self._file_body(sink)
        return MultiValueDict(fields)

    def _skip_preamble(self) -> None:
        keep = len(self.delimiter) - 1
        while True:
            found = self.buf.find(self.delimiter, self.pos)
            if found >= 0:
                self.pos = found + len(self.delimiter)
                return
            self.pos = max(self.pos, len(self.buf) - keep)
            if not self._more():
                raise MultipartError("the boundary given in the Content-Type does not occur in the body.")

    def _after_delimiter(self) -> bool:
        """Past a delimiter: True if a part follows, False after the closing one."""
        self._need(2, "after a boundary")
        if self.buf.startswith(b"--", self.pos):
            return False
        # Transport padding (spaces, tabs) may follow a boundary, then its CRLF.
        while True:
            self._need(1, "after a boundary")
            if self.buf[self.pos] not in PADDING:
                break
            self.pos += 1
        self._need(2, "after a boundary")
        if not self.buf.startswith(b"\r\n", self.pos):
            raise MultipartError("a boundary line has characters after the boundary.")
        self.pos += 2
        return True

    def _part_headers(self) -> tuple[str, str | None]:
        """The part's field name and filename (None for a field)."""
        while True:
            end = self.buf.find(b"\r\n\r\n", self.pos)
            if end >= 0 or self.buf.startswith(b"\r\n", self.pos):
                break
            if len(self.buf) - self.pos > MAX_HEADER_BYTES:
                raise MultipartError(f"a part's headers are longer than {MAX_HEADER_BYTES} bytes.")
            if not self._more():
                raise MultipartError("the body is truncated inside a part's headers.")
        if end < 0 or self.buf.startswith(b"\r\n", self.pos):
            raise MultipartError("a part has no headers: each needs a Content-Disposition.")
        block = self.buf[self.pos : end]
        self.pos = end + 4
        if len(block) > MAX_HEADER_BYTES:
            raise MultipartError(f"a part's headers are longer than {MAX_HEADER_BYTES} bytes.")
        common = COMMON_HEADERS.fullmatch(block)
        if common:
            try:
                name, filename = common.group(1).decode("utf-8"), common.group(2)
                if name:
                    return name, filename.decode("utf-8") if filename is not None else None
            except UnicodeDecodeError:
                raise MultipartError("a part's headers are not UTF-8.") from None
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError("a part's headers are not UTF-8.") from None
        disposition = None
        for line in text.split("\r\n"):
            key, sep, value = line.partition(":")
            if not sep or not key or key[0] in " \t" or key != key.strip():
                raise MultipartError(f"malformed part header {line[:60]!r}.")
            key = key.lower()
            if key == "content-disposition":
                if disposition is not None:
                    raise MultipartError("a part has two Content-Disposition headers.")
                disposition = value.strip()
            elif key == "content-transfer-encoding" and value.strip().lower() not in ("binary", "8bit", "7bit"):
                raise MultipartError(
                    f"Content-Transfer-Encoding {value.strip()[:40]!r} is not supported: send parts as binary."
                )
        if disposition is None:
            raise MultipartError("a part has no Content-Disposition header.")
        return _form_data_names(disposition)

    def _field_body(self, budget: int, name: str) -> bytes:
        pieces = []
        size = 0
        keep = len(self.delimiter) - 1
        while True:
            found = self.buf.find(self.delimiter, self.pos)
            end = found if found >= 0 else max(self.pos, len(self.buf) - keep)
            size += end - self.pos
            if size > budget:
                raise MultipartError("the form fields are larger than allowed (the file aside).")
            pieces.append(self.buf[self.pos : end])
            self.pos = end
            if found >= 0:
                self.pos += len(self.delimiter)
                return b"".join(pieces)
            if not self._more():
                raise MultipartError(f"the body is truncated inside the field {name[:40]!r}.")

    def _file_body(self, sink: FileSink | None) -> None:
        keep = len(self.delimiter) - 1
        while True:
            found = self.buf.find(self.delimiter, self.pos)
            end = found if found >= 0 else max(self.pos, len(self.buf) - keep)
            if sink is not None and end > self.pos:
                sink.write(self.buf[self.pos : end])
            self.pos = end
            if found >= 0:
                self.pos += len(self.delimiter)
                if sink is not None:
                    sink.finish()
                return
            if not self._more():
                raise MultipartError("the body is truncated inside the file part.")


def _form_data_names(disposition: str) -> tuple[str, str | None]:
    kind = disposition.partition(";")[0]
    if kind.strip().lower() != "form-data":
        raise MultipartError(f"a part's Content-Disposition is {kind.strip()[:40]!r}, not form-data.")
    params: dict[str, str] = {}
    pos = len(kind)
    while disposition[pos:].strip(" \t;"):
        match = PARAM.match(disposition, pos)
        if not match:
            raise MultipartError(f"malformed Content-Disposition {disposition[:80]!r}.")
        pos = match.end()
        key = match.group(1).lower()
        value = QUOTED_PAIR.sub(r"\1", match.group(2)) if match.group(2) is not None else match.group(3)
        if key.endswith("*"):
            key, value = key[:-1], _extended_value(value)
        elif key in params:
            # RFC 6266: name* and filename* take precedence over name and filename.
            continue
        params[key] = value
    name = params.get("name")
    if not name:
        raise MultipartError("a part has no field name (Content-Disposition: form-data; name=...).")
    return name, params.get("filename")


def _extended_value(value: str) -> str:
    """An RFC 8187 `charset'language'percent-encoded` parameter value."""
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not (sep and sep2) or charset.lower() not in ("utf-8", "us-ascii", "iso-8859-1"):
        raise MultipartError(f"malformed or unsupported extended parameter {value[:60]!r}.")
    try:
        return unquote(encoded, encoding=charset.lower(), errors="strict")
    except UnicodeDecodeError:
        raise MultipartError(f"an extended parameter is not {charset}.") from None
