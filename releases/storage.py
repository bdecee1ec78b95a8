"""The "packages" storage: content-addressed keys, writes and deletes with clear failures."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

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

    def __init__(self, key: str, finish: Callable[[], object] | None = None):
        self.key = key
        self._finish = finish
        self._error: Exception | None = None

    def _complete(self) -> None:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            try:
                finish()
            except Exception as exc:
                self._error = exc

    def wait(self) -> None:
        """Return once the object is stored; raise StorageUnavailable if the write failed."""
        self._complete()
        if self._error is None:
            return
        if isinstance(self._error, STORAGE_ERRORS):
            logger.warning("storage write of %s failed: %s", self.key, self._error)
            raise StorageUnavailable(
                "The package storage is unavailable; nothing was saved. Try again later."
            ) from self._error
        raise self._error

    def settle(self) -> None:
        """Wait for the write to end, successful or not (before cleaning up after it)."""
        self._complete()


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


# Up to this size a PUT is sent from the request's own thread: it leaves at once (the
# socket's buffer takes it) and its answer is read when the upload needs it. Larger ones
# go from a background thread, so their transfer too overlaps the database work.
INLINE_PUT_BYTES = 256 * 1024


def start_store(key: str, local_path: str, size: int) -> PendingWrite:
    """Begin writing the file at `local_path` under `key`; wait() on the result, on the
    calling thread.

    A small file goes to S3 in one signed PUT (see releases.s3storage), sent now, so the
    upload's database work runs while S3 stores it. A large file (multipart) or a
    filesystem write is done before this returns.
    """
    storage = packages_storage()
    writer = getattr(storage, "small_file_writer", None)
    send = writer(key, size) if writer is not None else None
    if send is None:
        store_file(key, local_path)
        return PendingWrite(key)
    if size > INLINE_PUT_BYTES:
        return PendingWrite(key, _writers().submit(lambda: send(local_path).finish()).result)
    try:
        sent = send(local_path)
    except Exception as exc:
        return PendingWrite(key, functools.partial(_raise, exc))
    return PendingWrite(key, sent.finish)


def _raise(exc: Exception) -> None:
    raise exc


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
