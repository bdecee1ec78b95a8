"""Writes, deletes and looks in the "packages" storage, with failures a caller can act on.

Both backends (releases.storage.filesystem, releases.storage.s3) create an object only if
none exists under its key, and never show a partial object: keys are content addressed,
so an object that is there already holds the right bytes and is never rewritten.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage, storages

logger = logging.getLogger(__name__)

STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, BotoCoreError, ClientError)
UNAVAILABLE = "The package storage is unavailable; nothing was saved. Try again later."


class StorageUnavailable(Exception):
    """The object store could not be reached or refused the write (HTTP 503)."""


def packages_storage() -> Storage:
    return storages["packages"]


def create_object(key: str, local_path: str, size: int) -> bool:
    """Store the file at `local_path` under `key` unless an object is there already.

    Returns True when this call created the object (its caller then owns its cleanup),
    False when one existed. A failed write leaves nothing behind.
    """
    try:
        return packages_storage().create(key, local_path, size)
    except STORAGE_ERRORS as exc:
        logger.warning("storage write of %s failed: %s", key, exc)
        raise StorageUnavailable(UNAVAILABLE) from exc


class PendingObject:
    """A `create_object` running on a writer thread, so the caller's database work goes on
    meanwhile; `wait()` (before the rows that reference the object commit) returns
    whether it created the object, and raises StorageUnavailable if the write failed."""

    def __init__(self, future: Future[bool]):
        self._future = future

    def wait(self) -> bool:
        return self._future.result()

    @property
    def created(self) -> bool:
        """Whether the object was created (after the write ended, successfully or not)."""
        return self._future.exception() is None and self._future.result()

    def settle(self) -> None:
        """Wait for the write to end, successful or not (before cleaning up after it)."""
        self._future.exception()


_writers: ThreadPoolExecutor | None = None


def _writer_pool() -> ThreadPoolExecutor:
    global _writers
    if _writers is None:
        _writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pypidraft-store")
    return _writers


def start_create(key: str, local_path: str, size: int) -> PendingObject:
    """`create_object` on a writer thread (each keeps its own kept-alive S3 client)."""
    return PendingObject(_writer_pool().submit(create_object, key, local_path, size))


def warm_up_writer() -> None:
    """Build a writer thread's storage client now rather than in the first upload."""
    storage = packages_storage()
    if hasattr(storage, "connection"):
        _writer_pool().submit(lambda: storage.connection.meta.client).result()


def _forget_writers() -> None:
    # A forked worker has none of its parent's threads.
    global _writers
    _writers = None


os.register_at_fork(after_in_child=_forget_writers)


def delete_objects(keys: Iterable[str]) -> list[str]:
    """Delete objects; return the keys that could not be deleted (logged, not raised).

    Only the key-locked cleanup (releases.storage.cleanup) may call this for keys that
    rows could reference."""
    storage = packages_storage()
    failed = []
    for key in keys:
        try:
            storage.delete(key)
        except STORAGE_ERRORS as exc:
            logger.warning("storage delete of %s failed: %s", key, exc)
            failed.append(key)
    return failed


def object_exists(key: str) -> bool:
    try:
        return packages_storage().exists(key)
    except STORAGE_ERRORS as exc:
        raise StorageUnavailable("The package storage is unavailable.") from exc
