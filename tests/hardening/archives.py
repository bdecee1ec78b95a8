"""Hostile distribution files, built byte by byte.

Each function returns (filename, bytes) of a wheel or sdist of `name` `version` that is
valid in every respect but one, so a 400 can only come from that one flaw.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import warnings
import zipfile

from packaging.utils import canonicalize_name

from tests.support.distributions import make_sdist, make_wheel, metadata_text

FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def wheel_members(name: str, version: str, **kwargs) -> tuple[str, list[tuple[str, bytes]]]:
    """The filename and (member, bytes) list of a valid wheel, to tamper with."""
    filename, data = make_wheel(name, version, **kwargs)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return filename, [(info.filename, zf.read(info)) for info in zf.infolist()]


def zip_of(members: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip with exactly these members, duplicates and odd names included."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: we want them
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            for path, data in members:
                info = zipfile.ZipInfo(path, date_time=FIXED_TIME)
                info.compress_type = compression
                zf.writestr(info, data)
    return buffer.getvalue()


def dist_info(name: str, version: str) -> str:
    return f"{canonicalize_name(name).replace('-', '_')}-{version}.dist-info"


def wheel_with_member(name: str, version: str, path: str, data: bytes = b"x = 1\n") -> tuple[str, bytes]:
    filename, members = wheel_members(name, version)
    return filename, zip_of([*members, (path, data)])


def wheel_with_duplicate(name: str, version: str, *, member: str = "METADATA") -> tuple[str, bytes]:
    filename, members = wheel_members(name, version)
    target = f"{dist_info(name, version)}/{member}"
    original = dict(members)[target]
    forged = original.replace(b"A test package", b"Something else entirely")
    return filename, zip_of([*members, (target, forged)])


def zip_bomb_wheel(name: str, version: str, *, inflated: int = 80 * 1024 * 1024) -> tuple[str, bytes]:
    """A real decompression bomb: a member of `inflated` zero bytes, deflated to ~1/1000."""
    filename, members = wheel_members(name, version)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in members:
            zf.writestr(zipfile.ZipInfo(path, date_time=FIXED_TIME), data, zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo(f"{canonicalize_name(name).replace('-', '_')}/zeros.bin", date_time=FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            chunk = bytes(1024 * 1024)
            for _ in range(inflated // len(chunk)):
                out.write(chunk)
    return filename, buffer.getvalue()


def forged_size_bomb_wheel(name: str, version: str, *, claimed: int = 2**40) -> tuple[str, bytes]:
    """A wheel whose central directory claims a member inflates to `claimed` bytes."""
    filename, members = wheel_members(name, version)
    data = bytearray(zip_of([*members, ("pad.bin", b"\0" * 1000)]))
    # Patch the last central directory entry (pad.bin): its uncompressed size, 32 bits.
    entry = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, entry + 24, min(claimed, 0xFFFFFFFE))
    return filename, bytes(data)


def tar_polyglot_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A valid wheel whose first 512 bytes are also a valid tar header (a zip/tar polyglot).

    The zip's first local header is 30 bytes; the member name that follows is chosen so
    the block reads as a tar header (space-terminated octal fields, no magic: old V7
    tar), with the checksum computed over the whole block, zip header included.
    """
    filename, members = wheel_members(name, version)

    def build(checksum: int) -> bytes:
        block = bytearray(b"x" * 512)
        fields = {
            100: b"0000644 ",  # mode
            108: b"0000000 ",  # uid
            116: b"0000000 ",  # gid
            124: b"00000000000 ",  # size
            136: b"00000000000 ",  # mtime
            148: f"{checksum:07o} ".encode(),  # checksum
            156: b"0",  # typeflag: regular file
            329: b"0000000 ",  # devmajor
            337: b"0000000 ",  # devminor
        }
        for offset, value in fields.items():
            block[offset : offset + len(value)] = value
        member_name = block[30:512].decode("ascii")
        return zip_of([(member_name, b""), *members], compression=zipfile.ZIP_STORED)

    draft = build(0)
    header = bytearray(draft[:512])
    header[148:156] = b" " * 8
    polyglot = build(sum(header))
    return filename, polyglot


def concatenated_zips_wheel(name: str, version: str) -> tuple[str, bytes]:
    """Two wheels back to back: readers from the end see the second, streaming readers the first."""
    filename, hidden = make_wheel(name, version, module_source="import os  # the one streaming readers see\n")
    _, shown = make_wheel(name, version)
    return filename, hidden + shown


def mismatched_local_name_wheel(name: str, version: str) -> tuple[str, bytes]:
    """The central directory says `<module>/__init__.py`, its local header says `../evil.py`
    (same length), so readers that trust local headers unpack outside the target."""
    filename, members = wheel_members(name, version)
    module = canonicalize_name(name).replace("-", "_")
    data = bytearray(zip_of(members, compression=zipfile.ZIP_STORED))
    honest = f"{module}/__init__.py".encode()
    evil = b"../" + b"e" * (len(honest) - len(b"../.py")) + b".py"
    assert len(evil) == len(honest)
    local = data.find(b"PK\x03\x04" + data[4:26])  # the first member's local header
    assert data[local + 30 : local + 30 + len(honest)] == honest, "the module must be the first member"
    data[local + 30 : local + 30 + len(honest)] = evil
    return filename, bytes(data)


def encrypted_metadata_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A wheel whose METADATA has the 'encrypted' flag set."""
    filename, members = wheel_members(name, version)
    data = bytearray(zip_of(members))
    target = f"{dist_info(name, version)}/METADATA".encode()
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_offset = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_offset : name_offset + len(target)] == target:
                flags = struct.unpack_from("<H", data, start + flag_offset)[0]
                struct.pack_into("<H", data, start + flag_offset, flags | 0x1)
            start += 4
    return filename, bytes(data)


def corrupt_metadata_stream_wheel(name: str, version: str) -> tuple[str, bytes]:
    """METADATA's deflate stream is garbage (its sizes and CRC untouched)."""
    filename, members = wheel_members(name, version)
    data = bytearray(zip_of(members))
    target = f"{dist_info(name, version)}/METADATA".encode()
    local = data.find(target) - 30
    compressed = struct.unpack_from("<I", data, local + 18)[0]
    start = local + 30 + len(target) + struct.unpack_from("<H", data, local + 28)[0]
    data[start : start + compressed] = b"\xff" * compressed
    return filename, bytes(data)


def huge_version_wheel(name: str, version: str, *, where: str) -> tuple[str, bytes]:
    """A version of 5000 digits (past Python's int parsing limit) in METADATA or in the
    .dist-info directory name."""
    long_version = "1" * 5000
    filename, members = wheel_members(name, version)
    if where == "METADATA":
        target = f"{dist_info(name, version)}/METADATA"
        members = [(p, metadata_text(name, long_version).encode() if p == target else d) for p, d in members]
    else:
        members = [(p.replace(dist_info(name, version), dist_info(name, long_version)), d) for p, d in members]
    return filename, zip_of(members)


# --- sdists -------------------------------------------------------------------------------


def tar_gz(entries: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for entry in entries:
            info, data = entry if isinstance(entry, tuple) else (entry, None)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def sdist_entries(name: str, version: str) -> tuple[str, list[tuple[tarfile.TarInfo, bytes]]]:
    filename, data = make_sdist(name, version)
    entries = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for info in tf:
            entries.append((info, tf.extractfile(info).read()))
    return filename, entries


def sdist_with(name: str, version: str, info: tarfile.TarInfo, data: bytes | None = None) -> tuple[str, bytes]:
    filename, entries = sdist_entries(name, version)
    extra = (info, data) if data is not None else info
    return filename, tar_gz([*entries, extra])


def file_entry(path: str, data: bytes = b"x = 1\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(path)
    info.size = len(data)
    return info, data


def link_entry(path: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def top(name: str, version: str) -> str:
    return f"{canonicalize_name(name).replace('-', '_')}-{version}"


def gzip_bomb_sdist(name: str, version: str, *, inflated: int = 80 * 1024 * 1024) -> tuple[str, bytes]:
    """A real decompression bomb: an sdist with a file of `inflated` zero bytes."""
    filename, entries = sdist_entries(name, version)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|") as tf,
    ):
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(f"{top(name, version)}/zeros.bin")
        info.size = inflated
        tf.addfile(info, _Zeros(inflated))
    return filename, buffer.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def zip_polyglot_sdist(name: str, version: str) -> tuple[str, bytes]:
    """A valid .tar.gz with a valid zip appended: zip readers see a different archive."""
    filename, data = make_sdist(name, version)
    _, wheel = make_wheel(name, version)
    return filename, data + wheel


def stored_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A valid wheel without compression, so mutations hit METADATA's text directly."""
    filename, members = wheel_members(name, version)
    return filename, zip_of(members, compression=zipfile.ZIP_STORED)


def plain_tar(name: str, version: str) -> bytes:
    """The uncompressed tar inside a valid sdist, for mutations of tar headers."""
    _, data = make_sdist(name, version)
    return gzip.decompress(data)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"io", "struct", "zlib", "warnings"}]
