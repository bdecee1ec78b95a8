"""The journal's one writer: public events, serial-numbered, in the order they commit.

Every public event goes through `write_journal`, which takes the journal's lock first, so
no call site can forget it. Without the lock a transaction that took serial 11 could
commit before the one holding serial 10, and a mirror that already read 11 would never
see 10. The lock is transaction scoped: it is held until the caller's transaction ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from releases.models import File, JournalEntry, Project, Release

# pg_advisory_xact_lock(class, key) classes used by pypidraft.
JOURNAL_LOCK = 7201


def _lock_journal() -> None:
    # SQLite needs none: its write transactions hold the whole database.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_LOCK])


def write_journal(
    project: Project, *, version: str, actions: Sequence[str], by: str, files_of: Release | None = None
) -> int:
    """Append `actions` for `project` (and, with `files_of`, one "add … file" entry per
    file of that release, in one statement whatever their number), set the project's
    serial to its newest entry and return it. Runs inside the caller's transaction."""
    _lock_journal()
    now = timezone.now()
    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(
                name=project.normalized_name, version=version, action=action, submitted_by=by, submitted_date=now
            )
            for action in actions
        ]
    )
    if files_of is not None:
        _add_file_entries(project, files_of, by=by, when=now)
        serial = JournalEntry.objects.filter(name=project.normalized_name).aggregate(serial=Max("id"))["serial"]
    else:
        # Under the lock, the ids just drawn are the project's newest.
        serial = max(entry.pk for entry in entries)
    Project.objects.filter(pk=project.pk).update(last_serial=serial)
    project.last_serial = serial
    return serial


def add_file_action(file: File) -> str:
    return JournalEntry.ADD_FILE.format(packagetype=file.packagetype, filename=file.filename)


def _add_file_entries(project: Project, release: Release, *, by: str, when) -> None:
    # Set based: one statement, whatever the number of files (publishing stays constant time).
    journal, files = JournalEntry._meta.db_table, File._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {journal} (name, version, action, submitted_date, submitted_by) "
            f"SELECT %s, %s, 'add ' || packagetype || ' file ' || filename, %s, %s "
            f"FROM {files} WHERE release_id = %s ORDER BY filename",
            [project.normalized_name, release.version, when, by, release.pk],
        )
