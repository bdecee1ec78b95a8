"""The "packages" storage: content-addressed keys, writes and deletes with clear failures."""

from __future__ import annotations

import logging
from collections.abc import Iterable

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
