"""Project names and versions: the one place that says which are valid and how they compare.

Used by every door that names a project or a version (uploads, Django admin, the API).
Each validator raises `UploadError(400, ...)` with a message a person can act on.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from releases.errors import UploadError

PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def validate_project_name(name: str) -> str:
    if not name:
        raise UploadError(400, "Missing 'name' field: the upload must name the project.")
    if len(name) > 200 or not PROJECT_NAME.match(name):
        raise UploadError(
            400,
            f"Invalid project name {name[:100]!r}: names must start and end with a letter or "
            "digit and contain only letters, digits, '.', '_' and '-'. See "
            "https://packaging.python.org/specifications/name-normalization/",
        )
    return canonicalize_name(name)


def validate_version(raw: str) -> Version:
    if not raw:
        raise UploadError(400, "Missing 'version' field: the upload must name the version.")
    try:
        version = Version(raw)
    except InvalidVersion:
        raise UploadError(
            400,
            f"Invalid version {raw[:100]!r}: use a PEP 440 version such as 1.0.0. "
            "See https://packaging.python.org/specifications/version-specifiers/",
        ) from None
    if version.local is not None:
        raise UploadError(
            400,
            f"Can't use PEP 440 local versions ({raw[:100]!r}): an index only accepts public "
            "versions. Remove the '+local' part.",
        )
    if len(raw) > 100:
        raise UploadError(400, "Invalid version: longer than 100 characters.")
    return version


def canonical_version(version: Version) -> str:
    """The form a release's version is unique in (`1.0` and `1.0.0` stay distinct, as on PyPI)."""
    return canonicalize_version(version, strip_trailing_zero=False)
