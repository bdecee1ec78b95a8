"""PyPI's JSON API: `/pypi/<project>/json` and `/pypi/<project>/<version>/json`.

The fields are those tools read from pypi.org (pip-audit, poetry, bandersnatch, renovate,
…): `info`, `last_serial`, `releases`, `urls`, `vulnerabilities`. Everything starts from
published releases: a project with only drafts is unknown here, and a draft's version is a
404 exactly like a version that does not exist.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from releases.models import File, Project, Release
from releases.selectors import by_version, find_release, latest_release, public_project, published_releases

SERIAL_HEADER = "X-PyPI-Last-Serial"


def file_url(request: HttpRequest, file: File) -> str:
    return request.build_absolute_uri("/packages/" + file.path)


def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_data(request: HttpRequest, file: File, release: Release) -> dict[str, Any]:
    """One file as in pypi.org's `urls` and `releases` lists."""
    return {
        "comment_text": "",
        "digests": {
            "blake2b_256": file.blake2_256_digest,
            "md5": file.md5_digest,
            "sha256": file.sha256_digest,
        },
        "downloads": -1,
        "filename": file.filename,
        "has_sig": False,
        "md5_digest": file.md5_digest,
        "packagetype": file.packagetype,
        "python_version": file.python_version,
        "requires_python": file.requires_python or None,
        "size": file.size,
        "upload_time": file.upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": _iso(file.upload_time),
        "url": file_url(request, file),
        "yanked": release.yanked,
        "yanked_reason": (release.yanked_reason or None) if release.yanked else None,
    }


def info_data(request: HttpRequest, project: Project, release: Release) -> dict[str, Any]:
    """pypi.org's `info` object for one release (the latest one on the project endpoint)."""
    project_url = request.build_absolute_uri(reverse("releases:project", args=[project.normalized_name]))
    return {
        "author": release.author,
        "author_email": release.author_email,
        "bugtrack_url": None,
        "classifiers": list(release.classifiers or []),
        "description": release.description,
        "description_content_type": release.description_content_type or None,
        "docs_url": None,
        "download_url": release.download_url or None,
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": release.home_page or None,
        "keywords": release.keywords,
        "license": release.license or None,
        "license_expression": release.license_expression or None,
        "license_files": None,
        "maintainer": release.maintainer,
        "maintainer_email": release.maintainer_email,
        "name": project.name,
        "package_url": project_url,
        "platform": ", ".join(release.platform) if release.platform else None,
        "project_url": project_url,
        "project_urls": dict(release.project_urls) if release.project_urls else None,
        "provides_extra": list(release.provides_extra) if release.provides_extra else None,
        "release_url": request.build_absolute_uri(
            reverse("releases:release", args=[project.normalized_name, release.version])
        ),
        "requires_dist": list(release.requires_dist) if release.requires_dist else None,
        "requires_python": release.requires_python,
        "summary": release.summary,
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": (release.yanked_reason or None) if release.yanked else None,
    }


def project_document(request: HttpRequest, project: Project) -> dict[str, Any] | None:
    releases = by_version(published_releases(project))
    latest = latest_release(releases)
    if latest is None:
        return None
    return {
        "info": info_data(request, project, latest),
        "last_serial": project.last_serial or 0,
        "releases": {r.version: [file_data(request, f, r) for f in r.files.all()] for r in releases},
        "urls": [file_data(request, f, latest) for f in latest.files.all()],
        "vulnerabilities": [],
    }


def release_document(request: HttpRequest, project: Project, release: Release) -> dict[str, Any]:
    # Like pypi.org today, the per-version document has no `releases` map.
    return {
        "info": info_data(request, project, release),
        "last_serial": project.last_serial or 0,
        "urls": [file_data(request, f, release) for f in release.files.all()],
        "vulnerabilities": [],
    }


def _json_response(request: HttpRequest, data: dict[str, Any], serial: int | None) -> HttpResponse:
    """JSON with PyPI's serial header and a validator over the exact bytes sent.

    Hashing the body (not the serial) keeps the ETag honest for every change, including
    ones that write no journal entry (a yank, a metadata refresh).
    """
    body = json.dumps(data, sort_keys=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    headers = {
        SERIAL_HEADER: str(serial or 0),
        "ETag": etag,
        "Cache-Control": "max-age=0, must-revalidate",
        "Access-Control-Allow-Origin": "*",
        "Vary": "Accept-Encoding",
    }
    candidates = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
    if etag in candidates or f"W/{etag}" in candidates:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    for key, value in headers.items():
        response[key] = value
    return response


def not_found(message: str) -> JsonResponse:
    response = JsonResponse({"message": "Not Found", "detail": message}, status=404)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def project_json(request: HttpRequest, project_name: str) -> HttpResponse:
    project = public_project(project_name)
    if project is None:
        return not_found(f"No project named '{project_name}'.")
    if project.normalized_name != project_name:
        return HttpResponsePermanentRedirect(reverse("pypi:project-json", args=[project.normalized_name]))
    data = project_document(request, project)
    if data is None:  # pragma: no cover - public() guarantees a published release
        raise Http404
    return _json_response(request, data, project.last_serial)


@require_safe
def release_json(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    project = public_project(project_name)
    if project is None:
        return not_found(f"No project named '{project_name}'.")
    release = find_release(published_releases(project), version)
    if release is None:
        return not_found(f"{project.name} has no release {version}.")
    if project.normalized_name != project_name or release.version != version:
        return HttpResponsePermanentRedirect(
            reverse("pypi:release-json", args=[project.normalized_name, release.version])
        )
    return _json_response(request, release_document(request, project, release), project.last_serial)
