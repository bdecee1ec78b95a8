"""The S3 backend of the "packages" storage (settings: PYPIDRAFT_STORAGE=s3)."""

from __future__ import annotations

from collections.abc import Callable

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class PackageS3Storage(S3Storage):
    """django-storages' S3Storage, plus one-request writes of files below the multipart threshold."""

    def small_file_writer(self, key: str, size: int) -> Callable[[str], None] | None:
        """A function that writes a local file under `key` with a single PutObject, callable
        from any thread; None when `size` calls for a multipart upload (use save()).

        This is the request s3transfer sends for such a file, without its per-call set-up
        (a resource object per key, a transfer coordinator, futures): on loopback SeaweedFS
        a 6 KB write takes 4.3 ms instead of 6.8 ms.
        """
        if size > self.transfer_config.multipart_threshold:
            return None
        # The client is thread-safe; the thread-local resource behind it is not shared.
        client = self.connection.meta.client
        bucket = self.bucket_name
        name = self._normalize_name(clean_name(key))
        params = self.get_object_parameters(key)

        def write(local_path: str) -> None:
            with open(local_path, "rb") as body:
                client.put_object(Bucket=bucket, Key=name, Body=body, **params)

        return write
