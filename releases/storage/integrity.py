"""Storage and database consistency checks (read only), for `manage.py check_storage`.

Repairs go through releases.services.storage, which deletes with the key-locked cleanup."""

from __future__ import annotations

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


def iter_objects(older_than: datetime | None = None) -> Iterator[tuple[str, bool]]:
    """Yield (key, old_enough) for every object in the packages storage."""
    storage = packages_storage()
    if settings.PYPIDRAFT_STORAGE == "s3":
        prefix = storage.location.rstrip("/") + "/" if storage.location else ""
        for obj in storage.bucket.objects.filter(Prefix=prefix):
            yield obj.key[len(prefix) :], older_than is None or obj.last_modified <= older_than
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
            yield key, older_than is None or storage.get_modified_time(key) <= older_than


def check_storage(older_than: datetime | None = None) -> StorageReport:
    report = StorageReport()
    rows = {
        path: (filename, published is None)
        for path, filename, published in File.objects.values_list("path", "filename", "release__published")
    }
    report.rows = len(rows)
    seen = set()
    for key, old_enough in iter_objects(older_than):
        report.objects += 1
        seen.add(key)
        if key not in rows and old_enough:
            report.orphans.append(key)
    report.missing = [(filename, path, draft) for path, (filename, draft) in rows.items() if path not in seen]
    return report
