"""Storage and database consistency checks (read only), for `manage.py check_storage`.

Every row must have its object with the row's size (and, with `deep`, its sha256); every
object must have a row. Repairs go through releases.services.storage, which deletes with
the key-locked cleanup."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from releases.models import File
from releases.storage.objects import packages_storage


@dataclass
class StorageReport:
    objects: int = 0
    rows: int = 0
    orphans: list[str] = field(default_factory=list)
    # (filename, path, is_draft)
    missing: list[tuple[str, str, bool]] = field(default_factory=list)
    # (filename, path, is_draft, what is wrong): objects whose size or sha256 is not the row's
    damaged: list[tuple[str, str, bool, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    filename: str
    draft: bool
    size: int
    sha256: str


def iter_objects(older_than: datetime | None = None) -> Iterator[tuple[str, bool, int]]:
    """Yield (key, old_enough, size) for every object in the packages storage."""
    storage = packages_storage()
    if settings.PYPIDRAFT_STORAGE == "s3":
        prefix = storage.location.rstrip("/") + "/" if storage.location else ""
        for obj in storage.bucket.objects.filter(Prefix=prefix):
            yield obj.key[len(prefix) :], older_than is None or obj.last_modified <= older_than, obj.size
        return
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            dirs, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        stack.extend(f"{folder}{name}/" for name in dirs)
        for name in files:
            key = f"{folder}{name}"
            yield key, older_than is None or storage.get_modified_time(key) <= older_than, storage.size(key)


def check_storage(older_than: datetime | None = None, *, deep: bool = False) -> StorageReport:
    """Compare objects and rows; with `deep`, also read every object and check its sha256."""
    report = StorageReport()
    rows = {
        path: _Row(filename, published is None, size, sha256)
        for path, filename, published, size, sha256 in File.objects.values_list(
            "path", "filename", "release__published", "size", "sha256_digest"
        )
    }
    report.rows = len(rows)
    seen = set()
    for key, old_enough, size in iter_objects(older_than):
        report.objects += 1
        seen.add(key)
        row = rows.get(key)
        if row is None:
            if old_enough:
                report.orphans.append(key)
        elif (problem := _problem(key, row, size, deep=deep)) is not None:
            report.damaged.append((row.filename, key, row.draft, problem))
    report.missing = [(row.filename, path, row.draft) for path, row in rows.items() if path not in seen]
    return report


def _problem(key: str, row: _Row, size: int, *, deep: bool) -> str | None:
    if size != row.size:
        return f"{size} bytes instead of {row.size}"
    if deep:
        digest = hashlib.sha256()
        with packages_storage().open(key, "rb") as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                digest.update(chunk)
        if digest.hexdigest() != row.sha256:
            return f"sha256 {digest.hexdigest()} instead of {row.sha256}"
    return None
