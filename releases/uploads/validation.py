"""Checks of a legacy upload's form and file, before anything is stored.

Small steps, each raising `UploadError(status, message)`: the action and protocol, the
fields' lengths and characters, name and version, the filename against them, the digests,
the archive (releases.uploads.distributions), the release metadata. `validate_upload`
runs them in order.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from django.utils.datastructures import MultiValueDict
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from releases.accounts.authentication import Principal
from releases.errors import PermissionDenied, UploadError
from releases.models import File
from releases.names import validate_project_name, validate_version
from releases.rendering import render_description
from releases.services.uploads import LARGE_FILE_BYTES, authorize
from releases.uploads.distributions import inspect_sdist, inspect_wheel, parse_filename
from releases.uploads.form import ReceivedFile

SHORT_FIELDS = {
    "name": 200,
    "version": 100,
    "filetype": 20,
    "pyversion": 100,
    "metadata_version": 10,
    "summary": 512,
    "description_content_type": 128,
    "requires_python": 256,
    "md5_digest": 32,
    "sha256_digest": 64,
    "blake2_256_digest": 64,
}
TEXT_FIELDS = (
    "description",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "keywords",
    "home_page",
    "download_url",
)


def check_action(form: MultiValueDict) -> None:
    action = form.get(":action")
    if action != "file_upload":
        raise UploadError(400, f"Unknown :action {str(action)[:40]!r}: this index supports only 'file_upload'.")
    protocol = form.get("protocol_version", "1")
    if protocol != "1":
        raise UploadError(400, f"Unknown protocol_version {protocol[:20]!r}: this index speaks version 1.")


# Free text that may span lines: tab, line feed and carriage return are fine there (the
# core metadata specification folds Author and Maintainer over lines too).
MULTI_LINE_FIELDS = ("description", "license", "keywords", "author", "maintainer")
# Every other field this index stores is one line of printable text, each value of the
# fields that repeat included. (Fields it does not store are only checked for NUL bytes.)
SINGLE_LINE_FIELDS = (
    *SHORT_FIELDS,
    *(name for name in TEXT_FIELDS if name not in MULTI_LINE_FIELDS),
    "requires_dist",
    "classifiers",
    "provides_extra",
    "platform",
    "project_urls",
)
# Control characters (C0, DEL, C1) and the two noncharacters XML cannot carry either: they
# mean nothing in metadata, and an escape or a vertical tab broke every feed they reached.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
MULTI_LINE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
CONTROL_NAMES = {
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\x07": "bell",
    "\x08": "backspace",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\x1b": "escape",
    "\x7f": "delete",
}


def _control_character_error(key: str, value: str, index: int, *, multi_line: bool) -> UploadError:
    char = value[index]
    what = f"the control character U+{ord(char):04X}"
    if char in CONTROL_NAMES:
        what += f" ({CONTROL_NAMES[char]})"
    if multi_line:
        fix = f"only tabs and line breaks are allowed in {key}: remove it and upload again."
    elif char in "\r\n":
        fix = f"{key} must be a single line: join the lines and upload again."
    else:
        fix = f"{key} must be one line of printable text: remove it (or use a space) and upload again."
    return UploadError(400, f"Invalid value for {key}: it contains {what} at character {index + 1}; {fix}")


def check_fields(form: MultiValueDict) -> None:
    """Reject values the database could not store, a feed could not carry or a person could not mean."""
    for key, values in form.lists():
        for value in values:
            if "\x00" in value:
                raise UploadError(400, f"Invalid value for {key[:40]!r}: it contains a NUL byte.")
    for key, limit in SHORT_FIELDS.items():
        value = form.get(key, "")
        if len(value) > limit:
            raise UploadError(400, f"Invalid value for {key}: at most {limit} characters are allowed.")
    for key in (*SINGLE_LINE_FIELDS, *MULTI_LINE_FIELDS):
        multi_line = key in MULTI_LINE_FIELDS
        pattern = MULTI_LINE_CONTROL if multi_line else CONTROL
        for value in form.getlist(key):
            # The version is read stripped (as twine may end it with a line break).
            checked = value.strip() if key == "version" else value
            match = pattern.search(checked)
            if match:
                raise _control_character_error(key, checked, match.start(), multi_line=multi_line)


HEX = re.compile(r"^[0-9a-f]+$")


def check_digests(form: MultiValueDict, received: ReceivedFile) -> dict[str, str]:
    computed = {
        "md5_digest": received.md5.hexdigest(),
        "sha256_digest": received.sha256.hexdigest(),
        "blake2_256_digest": received.blake2_256.hexdigest(),
    }
    supplied = {key: form.get(key, "").strip().lower() for key in computed if form.get(key, "").strip()}
    if not supplied:
        raise UploadError(400, "Include at least one message digest (sha256_digest, blake2_256_digest or md5_digest).")
    for key, value in supplied.items():
        if not HEX.match(value) or not hmac.compare_digest(value, computed[key]):
            raise UploadError(
                400,
                f"The digest supplied ({key}) does not match a digest calculated from the uploaded file: "
                "the file was changed or truncated in transit. Upload it again.",
            )
    return computed


def release_metadata(form: MultiValueDict) -> dict[str, Any]:
    metadata: dict[str, Any] = {name: form.get(name, "") for name in TEXT_FIELDS}
    for name in ("metadata_version", "summary", "description_content_type", "requires_python"):
        metadata[name] = form.get(name, "").strip() if name != "summary" else form.get(name, "")
    if metadata["requires_python"]:
        try:
            SpecifierSet(metadata["requires_python"])
        except InvalidSpecifier:
            raise UploadError(
                400, f"Invalid requires_python {metadata['requires_python'][:100]!r}: use a specifier such as '>=3.9'."
            ) from None
    requires_dist = [value for value in form.getlist("requires_dist") if value.strip()]
    for requirement in requires_dist:
        try:
            Requirement(requirement)
        except InvalidRequirement:
            raise UploadError(400, f"Invalid requires_dist {requirement[:100]!r}: not a PEP 508 requirement.") from None
    metadata["requires_dist"] = requires_dist
    metadata["classifiers"] = [value for value in form.getlist("classifiers") if value.strip()]
    metadata["provides_extra"] = [value for value in form.getlist("provides_extra") if value.strip()]
    metadata["platform"] = [value for value in form.getlist("platform") if value.strip()]
    urls = {}
    for entry in form.getlist("project_urls"):
        label, sep, url = entry.partition(",")
        if sep and label.strip() and url.strip():
            urls[label.strip()[:100]] = url.strip()
    metadata["project_urls"] = urls
    # Rendered once, here, before any lock is taken: pages only ever show the stored HTML.
    metadata["description_html"] = render_description(metadata["description"], metadata["description_content_type"])
    return metadata


@dataclass
class ValidatedUpload:
    name: str
    normalized_name: str
    version_string: str
    version: Any
    filetype: str
    python_version: str
    metadata: dict[str, Any]
    file_metadata: bytes | None
    digests: dict[str, str]


def validate_upload(form: MultiValueDict, received: ReceivedFile | None, principal: Principal) -> ValidatedUpload:
    check_action(form)
    check_fields(form)
    name = form.get("name", "").strip()
    normalized_name = validate_project_name(name)
    version_string = form.get("version", "").strip()
    version = validate_version(version_string)
    if received is None:
        # Before any look at the project: the answer must not depend on whether it exists.
        raise UploadError(400, "Upload payload does not have a file: send it in the 'content' field.")
    if received.size > LARGE_FILE_BYTES:
        # A small file's rights are checked under the project's lock; a large one is
        # refused before its archive is read and its transfer starts.
        try:
            authorize(principal, normalized_name, name)
        except PermissionDenied as exc:
            raise UploadError(403, str(exc)) from None
    filetype = form.get("filetype", "")
    if filetype not in (File.WHEEL, File.SDIST):
        raise UploadError(400, f"Invalid filetype {filetype[:40]!r}: use 'bdist_wheel' or 'sdist'.")
    info = parse_filename(received.raw_name, filetype=filetype, name=normalized_name, version=version)
    digests = check_digests(form, received)
    if received.size == 0:
        raise UploadError(400, "Invalid distribution file: the file is empty.")
    received.tmp.flush()
    if filetype == File.WHEEL:
        file_metadata = inspect_wheel(received.path, info=info, size=received.size)
    else:
        inspect_sdist(received.path, info=info, size=received.size)
        file_metadata = None
    return ValidatedUpload(
        name=name,
        normalized_name=normalized_name,
        version_string=version_string,
        version=version,
        filetype=filetype,
        python_version=info.python_version,
        metadata=release_metadata(form),
        file_metadata=file_metadata,
        digests=digests,
    )
