"""Pure checks on distribution files: filenames and archive contents.

Each function raises `UploadError` with a message a person can act on. Nothing here
touches the database or storage, so every rule is unit-testable with bytes on disk.
"""

from __future__ import annotations

import lzma
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from email.errors import MessageError

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from releases.errors import UploadError

# What a wheel or sdist filename can contain; anything else (path separators, control
# characters, NUL, spaces, non-ASCII) is rejected before any other parsing.
SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$")

MAX_MEMBERS = 100_000
MAX_METADATA_BYTES = 10 * 1024 * 1024
# A distribution that inflates more than this many times its size, and past the floor
# below, is treated as a decompression bomb.
MAX_COMPRESSION_RATIO = 50
BOMB_FLOOR_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DistInfo:
    """What the filename says about a distribution."""

    packagetype: str
    name: str  # canonical
    version: Version
    python_version: str


def parse_filename(filename: str, *, filetype: str, name: str, version: Version) -> DistInfo:
    """Check the filename the client sent against the form's name, version and filetype."""
    if not filename:
        raise UploadError(400, "Upload payload does not have a file: send it in the 'content' field.")
    if any(ch in filename for ch in "/\\") or any(ord(ch) < 32 or ord(ch) == 127 for ch in filename):
        raise UploadError(
            400,
            f"Invalid filename {filename[:100]!r}: it must not contain '/', '\\', NUL or other "
            "control characters. Upload the file under its plain name.",
        )
    if len(filename) > 255 or not SAFE_FILENAME.match(filename):
        raise UploadError(
            400,
            f"Invalid filename {filename[:100]!r}: use the name your build tool produced "
            "(letters, digits, '.', '_', '+', '!', '-').",
        )

    if filename.endswith(".whl"):
        if filetype != "bdist_wheel":
            raise UploadError(
                400,
                f"Invalid file extension: a '.whl' file must be sent with filetype 'bdist_wheel', not {filetype!r}.",
            )
        try:
            file_name, file_version, _build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise UploadError(400, f"Invalid wheel filename {filename!r}: {exc}") from None
        python_version = ".".join(sorted({tag.interpreter for tag in tags}))
    elif filename.endswith(".tar.gz"):
        if filetype != "sdist":
            raise UploadError(
                400, f"Invalid file extension: a '.tar.gz' file must be sent with filetype 'sdist', not {filetype!r}."
            )
        try:
            file_name, file_version = parse_sdist_filename(filename)
        except (InvalidSdistFilename, InvalidVersion) as exc:
            raise UploadError(400, f"Invalid sdist filename {filename!r}: {exc}") from None
        python_version = "source"
    else:
        raise UploadError(
            400,
            f"Invalid file extension for {filename!r}: use a wheel ('.whl') or a source "
            "distribution ('.tar.gz'). See https://packaging.python.org/specifications/",
        )

    if file_name != name:
        raise UploadError(
            400,
            f"Start filename for {name!r} with {name.replace('-', '_')!r}: "
            f"the file {filename!r} names the project {file_name!r}.",
        )
    if file_version != version:
        raise UploadError(
            400,
            f"Version in filename should be {str(version)!r}, not {str(file_version)!r}: "
            "the file and the form must name the same version.",
        )
    return DistInfo(packagetype=filetype, name=file_name, version=file_version, python_version=python_version)


def _check_member_path(member: str) -> None:
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member) or "\x00" in member:
        raise UploadError(400, f"Invalid distribution file: unsafe member path {member[:100]!r} in the archive.")


def _check_metadata(raw: bytes, *, what: str, name: str, version: Version) -> None:
    try:
        fields, _unparsed = parse_email(raw)
    except (MessageError, ValueError, UnicodeDecodeError) as exc:
        raise UploadError(400, f"Invalid distribution file: {what} cannot be parsed ({exc}).") from None
    meta_name = fields.get("name")
    meta_version = fields.get("version")
    if not meta_name or canonicalize_name(meta_name) != name:
        raise UploadError(
            400,
            f"Invalid distribution file: {what} names the project {meta_name!r}, but the upload is for {name!r}.",
        )
    try:
        same_version = meta_version is not None and Version(meta_version) == version
    except (InvalidVersion, ValueError):
        # ValueError: a release segment past Python's int parsing limit (4300 digits).
        same_version = False
    if not same_version:
        raise UploadError(
            400,
            f"Invalid distribution file: {what} has version {meta_version!r}, but the upload is for {str(version)!r}.",
        )


def inspect_wheel(path: str, *, info: DistInfo, size: int) -> bytes:
    """Validate a wheel and return its METADATA bytes (served as PEP 658 metadata)."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise UploadError(400, "Invalid distribution file: a wheel must be a zip file.")
    # Zip readers start from the end, tar and streaming zip readers from the start: a file
    # that two kinds of reader see differently is refused, whatever each of them would see.
    if _is_plain_tar(path):
        raise UploadError(400, "Invalid distribution file: the wheel is also a tar archive (polyglot).")
    try:
        with zipfile.ZipFile(path) as zf:
            seen = _check_zip_members(zf, size)
            metadata = _read_wheel_metadata(zf, seen, info)
    except UploadError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        NotImplementedError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        raise UploadError(400, f"Invalid distribution file: not a valid zip archive ({str(exc)[:200]}).") from None
    _check_metadata(metadata, what="the wheel's METADATA", name=info.name, version=info.version)
    return metadata


def _check_zip_members(zf: zipfile.ZipFile, size: int) -> set[str]:
    """Every member's path, uniqueness and headers; the archive's inflated size. Returns
    the members' names."""
    members = zf.infolist()
    if len(members) > MAX_MEMBERS:
        raise UploadError(400, f"Invalid distribution file: more than {MAX_MEMBERS} members.")
    if members and min(m.header_offset for m in members) != 0:
        raise UploadError(
            400, "Invalid distribution file: data before the first zip entry (e.g. two zips concatenated)."
        )
    seen: set[str] = set()
    total = 0
    for member in members:
        _check_member_path(member.filename)
        if member.filename in seen:
            raise UploadError(400, f"Invalid distribution file: duplicate zip entry {member.filename[:100]!r}.")
        if member.flag_bits & 0x1:
            raise UploadError(400, f"Invalid distribution file: encrypted zip entry {member.filename[:100]!r}.")
        # Opening reads the entry's local header and refuses one whose name differs from
        # the central directory's (what a streaming reader would unpack).
        zf.open(member).close()
        seen.add(member.filename)
        total += member.file_size
    _check_bomb(total, size)
    return seen


def _read_wheel_metadata(zf: zipfile.ZipFile, seen: set[str], info: DistInfo) -> bytes:
    """The METADATA of the wheel's one .dist-info directory for this name and version."""
    dist_infos = {m.split("/", 1)[0] for m in seen if m.count("/") == 1 and m.split("/", 1)[0].endswith(".dist-info")}
    matching = [d for d in dist_infos if _dist_info_matches(d, info)]
    if len(matching) != 1:
        raise UploadError(
            400,
            f"Invalid distribution file: the wheel must contain exactly one "
            f"'{info.name.replace('-', '_')}-{info.version}.dist-info' directory.",
        )
    dist_info = matching[0]
    if f"{dist_info}/WHEEL" not in seen:
        raise UploadError(400, f"Invalid distribution file: the wheel has no {dist_info}/WHEEL file.")
    metadata_name = f"{dist_info}/METADATA"
    if metadata_name not in seen:
        raise UploadError(400, f"Invalid distribution file: the wheel has no {metadata_name} file.")
    member = zf.getinfo(metadata_name)
    if member.file_size > MAX_METADATA_BYTES:
        raise UploadError(400, "Invalid distribution file: METADATA is larger than 10 MiB.")
    return zf.read(member)


def _is_plain_tar(path: str) -> bool:
    """tarfile.is_tarfile for a file that starts with a zip header: it cannot be
    compressed (gzip, bzip2 and xz have magic numbers of their own), so only the plain
    tar reader need try; is_tarfile also tries the three decompressors (a quarter of a
    millisecond per wheel)."""
    try:
        with tarfile.open(path, mode="r:"):
            return True
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


def _dist_info_matches(directory: str, info: DistInfo) -> bool:
    stem = directory[: -len(".dist-info")]
    name, _, version = stem.rpartition("-")
    try:
        return canonicalize_name(name) == info.name and Version(version) == info.version
    except InvalidVersion:
        return False


def inspect_sdist(path: str, *, info: DistInfo, size: int) -> None:
    """Validate a .tar.gz sdist: a real gzip'd tar with a PKG-INFO at its top."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            raise UploadError(400, "Invalid distribution file: a '.tar.gz' sdist must be gzip-compressed.")
    if zipfile.is_zipfile(path):
        raise UploadError(400, "Invalid distribution file: the sdist is also a zip archive (polyglot).")
    pkg_info: bytes | None = None
    total = 0
    count = 0
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            top_dirs: set[str] = set()
            for member in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise UploadError(400, f"Invalid distribution file: more than {MAX_MEMBERS} members.")
                _check_member_path(member.name)
                if member.issym() or member.islnk():
                    _check_member_path(member.linkname)
                total += max(member.size, 0)
                _check_bomb(total, size)
                parts = member.name.strip("/").split("/")
                top_dirs.add(parts[0])
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    if member.size > MAX_METADATA_BYTES:
                        raise UploadError(400, "Invalid distribution file: PKG-INFO is larger than 10 MiB.")
                    extracted = tf.extractfile(member)
                    pkg_info = extracted.read() if extracted else None
    except UploadError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as exc:
        raise UploadError(400, f"Invalid distribution file: not a valid .tar.gz archive ({exc}).") from None
    if pkg_info is None or len(top_dirs) != 1:
        raise UploadError(
            400,
            "Invalid distribution file: an sdist must contain a single top-level directory with a PKG-INFO file in it.",
        )
    _check_metadata(pkg_info, what="the sdist's PKG-INFO", name=info.name, version=info.version)


def _check_bomb(uncompressed: int, compressed: int) -> None:
    if uncompressed > BOMB_FLOOR_BYTES and uncompressed > MAX_COMPRESSION_RATIO * max(compressed, 1):
        raise UploadError(
            400,
            "Invalid distribution file: it decompresses to more than "
            f"{MAX_COMPRESSION_RATIO} times its size (a decompression bomb).",
        )
