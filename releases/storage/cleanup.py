"""Removing objects that no row references, without ever removing one a row needs.

Keys are content addressed: two uploads of the same bytes share a key, and the key of a
replaced or discarded draft file is the very key of the next upload of those bytes. So
every write of an object and every delete of one hold the key's lock
(`lock_object_key`, until their transaction ends): an upload writes its object and
commits its row under the lock, and a cleanup checks that no row references the key and
deletes the object under it. A cleanup therefore either sees the row and keeps the
object, or deletes the object before the upload looks for it, and the upload writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import DatabaseError, connection, transaction

from releases.models import File
from releases.storage.objects import delete_objects

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(class, key) class of storage keys (releases.services.journal has 7201).
OBJECT_KEY_LOCK = 7202


def lock_object_key(key: str) -> None:
    """Take the storage key's lock until the current transaction ends (none on SQLite,
    whose write transactions hold the whole database)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [OBJECT_KEY_LOCK, key])


def delete_unreferenced(keys: Iterable[str]) -> list[str]:
    """Delete the objects of `keys` that no row references (after a failed or replacing
    upload, a discard, a purge, a repair); return the keys whose object was deleted."""
    deleted = []
    for key in keys:
        try:
            with transaction.atomic():
                lock_object_key(key)
                if File.objects.filter(path=key).exists():
                    continue
                if not delete_objects([key]):
                    deleted.append(key)
        except DatabaseError:
            # The database is gone: we cannot tell whether a row references the object,
            # so keep it; `manage.py check_storage --fix` removes it if it is an orphan.
            logger.warning("kept %s after a database failure; check_storage will reconcile it", key)
    return deleted
