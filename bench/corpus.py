"""The synthetic corpus, built without internet (zipfile/tarfile, no build backend).

- ``benchproj``: 300 versions (1.0.0 … 1.299.0), each a wheel and an sdist: 600 files.
- ``bigwheel``: three 50 MiB wheels (1.0.0, 1.0.1, 1.0.2) of incompressible random bytes
  (stored, not deflated), so each upload really moves 50 MiB; the median is reported.
- ``rootproj-00000`` … ``rootproj-09997``: tiny sdists. The first eight are uploaded
  with twine to every server (10 projects in all with benchproj and bigwheel); the other
  9,990 bring the root index to 10,000 projects.
- ``hugewheel``: one 1 GiB wheel, written on demand into the run's temporary folder.

The corpus is cached under ``bench/.cache/`` (keyed by CORPUS_VERSION) because it is the
same every run; the 1 GiB wheel is not kept.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CORPUS_VERSION = "1"
PROJECT = "benchproj"
VERSIONS = [f"1.{i}.0" for i in range(300)]
NEWEST = VERSIONS[-1]
BIG_PROJECT = "bigwheel"
BIG_VERSIONS = ["1.0.0", "1.0.1", "1.0.2"]
BIG_BYTES = 50 * 1024 * 1024
ROOT_PREFIX = "rootproj"
ROOT_TOTAL = 10_000  # projects in the root index for the large measurement
ROOT_SMALL = 10  # projects in the root index for the small measurement
ROOT_UPLOADED = ROOT_SMALL - 2  # rootproj-* uploaded with twine (plus benchproj, bigwheel)
ROOT_EXTRA = ROOT_TOTAL - ROOT_SMALL  # inserted directly for the 10,000-project index
HUGE_PROJECT = "hugewheel"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def metadata_text(name: str, version: str, summary: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\nRequires-Python: >=3.8\n\n"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def _zinfo(path: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def wheel_bytes(name: str, version: str, module_source: str, summary: str = "A benchmark package") -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    members = {
        f"{dist}/__init__.py": module_source.encode(),
        f"{dist_info}/METADATA": metadata_text(name, version, summary).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pypidraft-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n",
    }
    record = "".join(_record_line(p, d) for p, d in members.items()) + f"{dist_info}/RECORD,,\n"
    members[f"{dist_info}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path, data in members.items():
            zf.writestr(_zinfo(path, zipfile.ZIP_DEFLATED), data)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


def sdist_bytes(name: str, version: str, module_source: str, summary: str = "A benchmark package") -> tuple[str, bytes]:
    dist = name.replace("-", "_")
    top = f"{dist}-{version}"
    members = {
        f"{top}/PKG-INFO": metadata_text(name, version, summary).encode(),
        f"{top}/pyproject.toml": (
            f'[build-system]\nrequires = ["flit_core>=3.2"]\nbuild-backend = "flit_core.buildapi"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "{summary}"\n'
        ).encode(),
        f"{top}/{dist}/__init__.py": module_source.encode(),
    }
    buffer = io.BytesIO()
    # mtime fixed so the corpus is byte-for-byte reproducible.
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1704067200
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return f"{top}.tar.gz", buffer.getvalue()


def _module(name: str, version: str) -> str:
    # A little real code, so files have a realistic small size (a few KiB).
    body = "\n".join(f"def f{i}(x):\n    return x * {i} + {len(name)}\n" for i in range(40))
    return f'"""{name} {version}: generated for the pypidraft benchmark."""\n\n__version__ = "{version}"\n\n{body}'


def write_big_wheel(path_dir: Path, name: str, version: str, size: int, chunk: int = 4 * 1024 * 1024) -> Path:
    """A wheel holding `size` random bytes, stored uncompressed, written in chunks."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    filename = f"{dist}-{version}-py3-none-any.whl"
    target = path_dir / filename
    tmp = target.with_suffix(".partial")
    records = []
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        init = f'__version__ = "{version}"\n'.encode()
        zf.writestr(_zinfo(f"{dist}/__init__.py", zipfile.ZIP_DEFLATED), init)
        records.append(_record_line(f"{dist}/__init__.py", init))
        digest = hashlib.sha256()
        info = _zinfo(f"{dist}/data.bin", zipfile.ZIP_STORED)
        info.file_size = size  # lets zipfile write ZIP64 headers up front when needed
        with zf.open(info, "w", force_zip64=size >= 2**31) as out:
            left = size
            while left > 0:
                block = os.urandom(min(chunk, left))
                digest.update(block)
                out.write(block)
                left -= len(block)
        b64 = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        records.append(f"{dist}/data.bin,sha256={b64},{size}\n")
        for path, data in {
            f"{dist_info}/METADATA": metadata_text(name, version, "A large benchmark wheel").encode(),
            f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: pypidraft-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n",
        }.items():
            zf.writestr(_zinfo(path, zipfile.ZIP_DEFLATED), data)
            records.append(_record_line(path, data))
        record = "".join(records) + f"{dist_info}/RECORD,,\n"
        zf.writestr(_zinfo(f"{dist_info}/RECORD", zipfile.ZIP_DEFLATED), record.encode())
    tmp.rename(target)
    return target


@dataclass
class Corpus:
    root: Path

    @property
    def project_dir(self) -> Path:
        return self.root / "benchproj"

    @property
    def big_dir(self) -> Path:
        return self.root / "big"

    @property
    def small_dir(self) -> Path:
        return self.root / "small"

    @property
    def extra_dir(self) -> Path:
        return self.root / "extra"

    def project_files(self) -> list[Path]:
        return sorted(self.project_dir.iterdir())

    def big_files(self) -> list[Path]:
        return sorted(self.big_dir.glob("*.whl"))

    def small_files(self) -> list[Path]:
        return sorted(self.small_dir.iterdir())

    def extra_files(self) -> list[Path]:
        return sorted(self.extra_dir.iterdir())

    def extra_manifest(self) -> list[dict]:
        return json.loads((self.root / "extra.json").read_text())


def root_name(i: int) -> str:
    return f"{ROOT_PREFIX}-{i:05d}"


def build(cache_dir: Path, log=print) -> Corpus:
    """Build the corpus (or reuse the cached one) and return it."""
    root = cache_dir / f"corpus-v{CORPUS_VERSION}"
    stamp = root / ".complete"
    corpus = Corpus(root)
    if stamp.exists():
        log(f"corpus: reusing {root}")
        return corpus
    shutil.rmtree(root, ignore_errors=True)
    for folder in (corpus.project_dir, corpus.big_dir, corpus.small_dir, corpus.extra_dir):
        folder.mkdir(parents=True)
    for version in VERSIONS:
        source = _module(PROJECT, version)
        for filename, data in (wheel_bytes(PROJECT, version, source), sdist_bytes(PROJECT, version, source)):
            (corpus.project_dir / filename).write_bytes(data)
    for version in BIG_VERSIONS:
        write_big_wheel(corpus.big_dir, BIG_PROJECT, version, BIG_BYTES)
    manifest = []
    for i in range(ROOT_UPLOADED + ROOT_EXTRA):
        name = root_name(i)
        filename, data = sdist_bytes(name, "1.0", '__version__ = "1.0"\n', summary=f"Root index project {i}")
        folder = corpus.small_dir if i < ROOT_UPLOADED else corpus.extra_dir
        (folder / filename).write_bytes(data)
        if i >= ROOT_UPLOADED:
            manifest.append(
                {
                    "name": name,
                    "version": "1.0",
                    "filename": filename,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "blake2_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
                    "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                }
            )
    (root / "extra.json").write_text(json.dumps(manifest))
    stamp.write_text("ok\n")
    log(
        f"corpus: built {root} ({len(corpus.project_files())} project files, "
        f"{len(corpus.big_files())} x {BIG_BYTES >> 20} MiB wheels, {ROOT_UPLOADED + ROOT_EXTRA} root-index projects)"
    )
    return corpus
