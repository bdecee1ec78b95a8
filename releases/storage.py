"""The "packages" storage: content-addressed keys, writes and deletes with clear failures."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from django.core.files import File as DjangoFile
from django.core.files.storage import Storage, storages

logger = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The object store could not be reached or refused the write (HTTP 503)."""


def packages_storage() -> Storage:
    return storages["packages"]


def file_key(blake2_256: str, filename: str) -> str:
    """PyPI's layout: /packages/<aa>/<bb>/<rest-of-blake2b>/<filename>."""
    return f"{blake2_256[:2]}/{blake2_256[2:4]}/{blake2_256[4:]}/{filename}"


def _storage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:  # pragma: no cover - boto3 is a hard dependency
        pass
    return tuple(errors)


STORAGE_ERRORS = _storage_errors()


def store_file(key: str, local_path: str) -> None:
    """Write the file at `local_path` under `key`, replacing any previous object."""
    storage = packages_storage()
    try:
        with open(local_path, "rb") as fh:
            saved = storage.save(key, DjangoFile(fh, name=key))
    except STORAGE_ERRORS as exc:
        logger.warning("storage write of %s failed: %s", key, exc)
        raise StorageUnavailable("The package storage is unavailable; nothing was saved. Try again later.") from exc
    # Both backends are configured to overwrite, never to rename.
    assert saved == key, (saved, key)


class PendingWrite:
    """An object write that may still be in flight (see start_store)."""

    def __init__(self, key: str, future: Future | None = None):
        self.key = key
        self._future = future

    def wait(self) -> None:
        """Return once the object is stored; raise StorageUnavailable if the write failed."""
        if self._future is None:
            return
        try:
            self._future.result()
        except STORAGE_ERRORS as exc:
            logger.warning("storage write of %s failed: %s", self.key, exc)
            raise StorageUnavailable("The package storage is unavailable; nothing was saved. Try again later.") from exc

    def settle(self) -> None:
        """Wait for the write to end, successful or not (before cleaning up after it)."""
        if self._future is not None:
            self._future.exception()


_writer_pool: ThreadPoolExecutor | None = None


def _writers() -> ThreadPoolExecutor:
    global _writer_pool
    if _writer_pool is None:
        _writer_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pypidraft-store")
    return _writer_pool


def _forget_writers() -> None:
    # A forked worker has none of its parent's threads.
    global _writer_pool
    _writer_pool = None


os.register_at_fork(after_in_child=_forget_writers)


def start_store(key: str, local_path: str, size: int) -> PendingWrite:
    """Begin writing the file at `local_path` under `key`; wait() on the result.

    A small file goes to S3 in one signed PUT from a background thread (see
    releases.s3storage), so the upload's database work runs meanwhile. A large file
    (multipart) or a filesystem write is done before this returns.
    """
    storage = packages_storage()
    writer = getattr(storage, "small_file_writer", None)
    write = writer(key, size) if writer is not None else None
    if write is None:
        store_file(key, local_path)
        return PendingWrite(key)
    return PendingWrite(key, _writers().submit(write, local_path))


def delete_objects(keys: Iterable[str]) -> list[str]:
    """Delete objects; return the keys that could not be deleted (logged, not raised)."""
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
