"""Where the bytes of distribution files live, and that they stay consistent with the rows.

keys        content-addressed keys in PyPI's layout
objects     create (never rewrite), delete, exists; StorageUnavailable
filesystem  the default backend: temporary name, then a link into place
s3          the S3 backend (django-storages' boto3 client, retries and timeouts in settings)
cleanup     the key lock, and the one delete of objects that rows could reference
integrity   the read-only comparison of objects and rows (check_storage)
"""

from releases.storage.keys import file_key
from releases.storage.objects import (
    STORAGE_ERRORS,
    StorageUnavailable,
    create_object,
    delete_objects,
    object_exists,
    packages_storage,
)

__all__ = [
    "STORAGE_ERRORS",
    "StorageUnavailable",
    "create_object",
    "delete_objects",
    "file_key",
    "object_exists",
    "packages_storage",
]
