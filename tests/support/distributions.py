"""Build real wheels and sdists in memory, byte for byte what build tools produce."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile

from packaging.utils import canonicalize_name


def metadata_text(name: str, version: str, *, summary: str = "A test package", requires_python: str = ">=3.8") -> str:
    lines = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return "\n".join(lines) + "\n\n"


def make_wheel(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    module_source: str | None = None,
    metadata: str | None = None,
    extra: dict[str, bytes] | None = None,
    omit: tuple[str, ...] = (),
) -> tuple[str, bytes]:
    """Return (filename, bytes) of a wheel with a module that exposes __version__."""
    dist = canonicalize_name(name).replace("-", "_")
    module = dist
    dist_info = f"{dist}-{version}.dist-info"
    members = {
        f"{module}/__init__.py": (module_source or f'__version__ = "{version}"\n').encode(),
        f"{dist_info}/METADATA": (metadata or metadata_text(name, version)).encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n\n".encode(),
    }
    members.update(extra or {})
    for key in omit:
        members.pop(key.format(dist_info=dist_info), None)
    record = "".join(
        f"{path},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n" for path, data in members.items()
    )
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            # A fixed timestamp: the same inputs always build the same bytes.
            zf.writestr(
                zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), data, compress_type=zipfile.ZIP_DEFLATED
            )
    return f"{dist}-{version}-{tag}.whl", buffer.getvalue()


def make_sdist(
    name: str,
    version: str,
    *,
    pkg_info: str | None = None,
    extra: dict[str, bytes] | None = None,
    include_pkg_info: bool = True,
) -> tuple[str, bytes]:
    dist = canonicalize_name(name).replace("-", "_")
    top = f"{dist}-{version}"
    members = {
        f"{top}/pyproject.toml": b"[project]\n",
        f"{top}/{dist}/__init__.py": f'__version__ = "{version}"\n'.encode(),
    }
    if include_pkg_info:
        members[f"{top}/PKG-INFO"] = (pkg_info or metadata_text(name, version)).encode()
    members.update(extra or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    # gzip with a fixed mtime: the same inputs always build the same bytes.
    return f"{top}.tar.gz", gzip.compress(buffer.getvalue(), mtime=0)


def upload_fields(name: str, version: str, filename: str, data: bytes, /, **overrides) -> dict:
    """The form fields twine sends for one file."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3" if filename.endswith(".whl") else "source",
        "metadata_version": "2.4",
        "summary": "A test package",
        "requires_python": ">=3.8",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data).hexdigest(),
        "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}
