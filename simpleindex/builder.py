"""One builder for the simple index (PEP 503/691/658/700/714), two renderers.

The builder produces PEP 691 data from a file queryset; the public index, and each
draft's own index, differ only in the queryset and in how file URLs are made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from releases.selectors import version_key

API_VERSION = "1.1"

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

# Served content type for each negotiable type. The order breaks ties in q-values, so a
# client that accepts anything (`*/*`, browsers, curl) gets the classic HTML page.
NEGOTIABLE = {
    TEXT_HTML: TEXT_HTML,
    HTML_V1: HTML_V1,
    HTML_LATEST: HTML_V1,
    JSON_V1: JSON_V1,
    JSON_LATEST: JSON_V1,
}
FORMAT_PARAM = {"json": JSON_V1, "html": HTML_V1, JSON_V1: JSON_V1, HTML_V1: HTML_V1, TEXT_HTML: TEXT_HTML}

FILE_FIELDS = (
    "filename",
    "path",
    "sha256_digest",
    "size",
    "upload_time",
    "requires_python",
    "metadata_sha256",
    "release__version",
    "release__yanked",
    "release__yanked_reason",
)


class NotAcceptable(Exception):
    pass


def choose_content_type(request) -> str:
    """Pick the response type from `?format=` or the Accept header (with q-values)."""
    fmt = request.GET.get("format")
    if fmt:
        if fmt not in FORMAT_PARAM:
            raise NotAcceptable(f"Unknown format {fmt[:40]!r}: use 'json' or 'html'.")
        return FORMAT_PARAM[fmt]
    if not request.headers.get("Accept"):
        return TEXT_HTML
    preferred = request.get_preferred_type(list(NEGOTIABLE))
    if preferred is None:
        raise NotAcceptable(
            f"None of the media types in Accept are served here; use {JSON_V1}, {HTML_V1} or {TEXT_HTML}."
        )
    return NEGOTIABLE[preferred]


@dataclass(frozen=True)
class FileUrls:
    """How to link a file of this index: its download URL and its PEP 658 metadata URL."""

    file_url: Callable[[dict[str, Any]], str]


def project_data(
    *, name: str, serial: int | None, versions: Iterable[str], files: Iterable[dict[str, Any]], urls: FileUrls
) -> dict[str, Any]:
    """PEP 691 data for one project page. `files` are rows with FILE_FIELDS."""
    entries = []
    for row in sorted(files, key=lambda r: (version_key(r["release__version"]), r["filename"])):
        core_metadata: Any = {"sha256": row["metadata_sha256"]} if row["metadata_sha256"] else False
        yanked: Any = (row["release__yanked_reason"] or True) if row["release__yanked"] else False
        entries.append(
            {
                "filename": row["filename"],
                "url": urls.file_url(row),
                "hashes": {"sha256": row["sha256_digest"]},
                "requires-python": row["requires_python"] or None,
                "core-metadata": core_metadata,
                "dist-info-metadata": core_metadata,
                "yanked": yanked,
                "size": row["size"],
                "upload-time": row["upload_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    return {
        "meta": {"api-version": API_VERSION, "_last-serial": serial or 0},
        "name": name,
        "versions": sorted(set(versions), key=version_key),
        "files": entries,
    }


def root_data(*, serial: int | None, projects: Iterable[tuple[str, int | None]]) -> dict[str, Any]:
    """`projects` are (normalized name, last serial) pairs; pypi.org adds the serial too."""
    return {
        "meta": {"api-version": API_VERSION, "_last-serial": serial or 0},
        "projects": [{"name": name, "_last-serial": last or 0} for name, last in projects],
    }


def served_content_type(content_type: str) -> str:
    return "text/html; charset=utf-8" if content_type == TEXT_HTML else content_type


def render(data: dict[str, Any], content_type: str, *, template: str) -> bytes:
    if content_type == JSON_V1:
        return json.dumps(data, separators=(",", ":")).encode()
    # Django templates cannot read PEP 691's hyphenated keys: hand them plain names.
    files = [
        {
            "filename": f["filename"],
            "url": f["url"],
            "sha256": f["hashes"]["sha256"],
            "requires_python": f["requires-python"],
            "core_metadata": f["core-metadata"]["sha256"] if f["core-metadata"] else None,
            "is_yanked": f["yanked"] is not False,
            "yanked_reason": f["yanked"] if isinstance(f["yanked"], str) else "",
        }
        for f in data.get("files", ())
    ]
    context = {
        "name": data.get("name"),
        "files": files,
        "projects": data.get("projects", ()),
        "serial": data["meta"]["_last-serial"],
        "api_version": API_VERSION,
    }
    return render_to_string(template, context).encode()
