"""The S3 backend of the "packages" storage (settings: PYPIDRAFT_STORAGE=s3).

Every request goes through django-storages' boto3 client (one per thread, kept alive),
configured in settings with the storage timeouts and botocore's standard retry mode:
5xx answers, SlowDown and throttling are retried with exponential backoff.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

# S3's answers to a conditional PUT (If-None-Match: *) when the key holds an object already,
# or when another conditional write to it is in flight.
ALREADY_THERE = {"PreconditionFailed", "ConditionalRequestConflict"}


class PackageS3Storage(S3Storage):
    """django-storages' S3Storage, plus `create`: a write that never rewrites an object."""

    def create(self, key: str, local_path: str, size: int) -> bool:
        """Store the file under `key` unless an object is there; return whether we stored it.

        A small file is one conditional PutObject (If-None-Match: *), which S3 applies
        atomically; a large one is a multipart upload after a look for the key (the caller
        holds the key's lock, so nothing else writes it meanwhile). S3 never shows a
        partial object, and a multipart upload that fails is aborted by boto3."""
        name = self._normalize_name(clean_name(key))
        params = self.get_object_parameters(name)
        client = self.connection.meta.client
        if size < self.transfer_config.multipart_threshold:
            with open(local_path, "rb") as fh:
                body = fh.read()
            try:
                client.put_object(Bucket=self.bucket_name, Key=name, Body=body, IfNoneMatch="*", **params)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ALREADY_THERE:
                    return False
                raise
            return True
        if self.exists(key):
            return False
        client.upload_file(local_path, self.bucket_name, name, ExtraArgs=params, Config=self.transfer_config)
        return True
