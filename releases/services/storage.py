"""Repairs of the package storage (`manage.py check_storage --fix`)."""

from __future__ import annotations

from django.db import transaction

from releases.models import File
from releases.services.actors import Actor
from releases.services.audit import audit
from releases.storage.cleanup import delete_unreferenced, lock_object_key
from releases.storage.integrity import StorageReport
from releases.storage.objects import object_exists


def repair_storage(report: StorageReport, *, actor: Actor) -> tuple[int, int]:
    """Delete orphan objects and the rows of draft files whose object is gone.

    Orphans go through the key-locked cleanup, which deletes only what no row references
    at that moment (an identical upload in flight holds the key's lock until its row
    commits). A draft file's row is dropped only if, under its key's lock, its object is
    still missing. Each removal is audited. Returns (objects deleted, rows dropped)."""
    deleted = delete_unreferenced(report.orphans)
    if deleted:
        with transaction.atomic():
            audit(actor, "delete orphan objects", keys=deleted)
    dropped = 0
    for filename, path, draft in report.missing:
        if draft:
            dropped += _drop_missing_draft_file(filename, path, actor)
    return len(deleted), dropped


def _drop_missing_draft_file(filename: str, path: str, actor: Actor) -> int:
    with transaction.atomic():
        lock_object_key(path)
        row = File.objects.select_related("release__project").filter(path=path, release__published__isnull=True).first()
        if row is None or object_exists(path):
            return 0
        row.delete()
        audit(
            actor,
            "drop draft file without object",
            project=row.release.project.name,
            version=row.release.version,
            filename=filename,
        )
    return 1
