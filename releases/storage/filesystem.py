"""The filesystem backend of the "packages" storage (the default, and `make run`'s)."""

from __future__ import annotations

import os
import shutil
import tempfile

from django.core.files.storage import FileSystemStorage


class PackageFileSystemStorage(FileSystemStorage):
    """Django's FileSystemStorage, plus `create`: a write that never rewrites an object
    and never shows a partial one."""

    def create(self, key: str, local_path: str, size: int) -> bool:
        """Copy the file to a temporary name beside its key and link it into place.

        A reader sees the whole object or none; a key that exists already is left as it
        is (its bytes are these bytes: keys are content addressed). Returns whether this
        call created the object."""
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(path):
            return False
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".partial-", delete=False) as tmp:
            try:
                with open(local_path, "rb") as source:
                    shutil.copyfileobj(source, tmp, 1024 * 1024)
                tmp.flush()
                os.fsync(tmp.fileno())
                os.chmod(tmp.name, self.file_permissions_mode or 0o644)
                os.link(tmp.name, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp.name)
        return True
