"""Public project and release pages, and the draft preview (the token is the capability).

Public pages start from `Release.objects.published()`; a draft's version is a 404 there.
They carry an ETag built from the project's journal serial (every public change bumps it)
so a cache revalidates and never serves a stale page; drafts never enter that page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe
from packaging.utils import canonicalize_name

from releases import selectors
from releases.accounts.tokens import draft_token_for
from releases.http import private, public_validator
from releases.links import draft_index_url, simple_index_url
from releases.models import Project, Release
from releases.rendering import RENDER_VERSION, stored_description
from releases.services import policy

# Bump when the page templates change shape, so old validators never match.
PAGE_VERSION = "2"


def _public_project(project_name: str) -> Project:
    project = selectors.public_project(project_name)
    if project is None:
        raise Http404("No such project.")
    return project


def _latest(history: list[Release]) -> Release:
    latest = selectors.latest_release(history)
    if latest is None:  # public() guarantees a published release; a concurrent change may not
        raise Http404("No such project.")
    return latest


def safe_url(url: str) -> str | None:
    """Only http(s) links from metadata become links; anything else stays text."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return None


def _links(release: Release) -> list[dict[str, str | None]]:
    links = []
    if release.home_page:
        links.append({"label": "Homepage", "text": release.home_page, "url": safe_url(release.home_page)})
    urls = release.project_urls if isinstance(release.project_urls, dict) else {}
    for label, url in urls.items():
        links.append({"label": str(label), "text": str(url), "url": safe_url(str(url))})
    if release.download_url:
        links.append({"label": "Download", "text": release.download_url, "url": safe_url(release.download_url)})
    return links


def release_context(project: Project, release: Release, history: list[Release]) -> dict[str, Any]:
    """What the public page, the preview and the dashboard's release page show of a release."""
    return {
        "project": project,
        "release": release,
        "files": list(release.files.all()),
        "history": history,
        "description_html": stored_description(release),
        "links": _links(release),
        "license": release.license_expression or release.license,
        "requires_dist": [str(r) for r in release.requires_dist] if isinstance(release.requires_dist, list) else [],
        "classifiers": [str(c) for c in release.classifiers] if isinstance(release.classifiers, list) else [],
    }


def install_commands(option: str, index_url: str, project: Project, release: Release) -> dict[str, str]:
    """pip and uv commands that install this release from `index_url`.

    `option` is "--index-url" for this index's public releases and "--extra-index-url" for a
    draft's private index (which serves only the draft, so its dependencies come from PyPI)."""
    requirement = f"{project.normalized_name}=={release.version}"
    return {
        "pip_command": f"pip install {option} {index_url} {requirement}",
        "uv_command": f"uv pip install {option} {index_url} {requirement}",
    }


def _published_history(project: Project) -> list[Release]:
    return selectors.by_version(Release.objects.published().filter(project=project), newest_first=True)


def _conditional(request: HttpRequest, project: Project, extra: str, respond) -> HttpResponse:
    """Answer with 304 when an anonymous visitor's copy is current.

    Pages for signed-in people carry their name and a CSRF token, so they are private and
    never validated; anonymous pages depend only on the project's public serial.
    """
    viewer_specific = request.user.is_authenticated or bool(get_messages(request))
    etag = None
    if not viewer_specific:
        # The install commands name this index's absolute URL, so the host is part of the page.
        seed = f"{project.pk}:{project.last_serial}:{extra}:{simple_index_url(request)}:{PAGE_VERSION}:{RENDER_VERSION}"
        etag = f'"{public_validator(seed)}"'
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponseNotModified()
            response["ETag"] = etag
            _public_headers(response, project)
            return response
    response = respond()
    if etag:
        response["ETag"] = etag
    _public_headers(response, project)
    if viewer_specific:
        response["Cache-Control"] = "private, no-cache"
    return response


def _public_headers(response: HttpResponse, project: Project) -> None:
    response["X-PyPI-Last-Serial"] = str(project.last_serial or 0)
    response["Cache-Control"] = "max-age=0, must-revalidate"
    patch_vary_headers(response, ["Cookie"])


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    index_url = simple_index_url(request)
    context: dict[str, Any] = {
        "recent": selectors.recent_releases(),
        "index_url": index_url,
        "pip_index_command": f"pip install --index-url {index_url} NAME",
    }
    if request.user.is_authenticated:
        # How to upload here: the absolute endpoint a signed-in person passes to twine or uv.
        upload_url = request.build_absolute_uri(reverse("releases:upload"))
        context.update(
            upload_url=upload_url,
            draft_upload_url=request.build_absolute_uri(reverse("releases:upload-draft")),
            twine_command=f"twine upload --repository-url {upload_url} -u __token__ -p YOUR_TOKEN dist/*",
            uv_publish_command=f"uv publish --publish-url {upload_url} --token YOUR_TOKEN",
        )
    return render(request, "releases/home.html", context)


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[: selectors.SEARCH_QUERY_MAX_LENGTH]
    results = selectors.search_projects(query) if query else []
    context = {"query": query, "results": results, "limit": selectors.SEARCH_LIMIT}
    return render(request, "releases/search.html", context)


@require_safe
def project_page(request: HttpRequest, project_name: str) -> HttpResponse:
    project = _public_project(project_name)
    if project.normalized_name != project_name:
        return HttpResponsePermanentRedirect(reverse("releases:project", args=[project.normalized_name]))

    def respond() -> HttpResponse:
        history = _published_history(project)
        latest = _latest(history)
        context = release_context(project, latest, history)
        context.update(
            install_commands("--index-url", simple_index_url(request), project, latest),
            is_latest=True,
            can_manage=policy.role_of(request.user, project) is not None,
        )
        return render(request, "releases/release.html", context)

    return _conditional(request, project, "", respond)


@require_safe
def release_page(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    project = _public_project(project_name)
    release = selectors.find_release(Release.objects.published().filter(project=project), version)
    if release is None:
        raise Http404("No such release.")
    if project.normalized_name != project_name or release.version != version:
        # Another spelling of the name or of the version (`1.00` for `1.0`), as on pypi.org.
        return HttpResponsePermanentRedirect(
            reverse("releases:release", args=[project.normalized_name, release.version])
        )

    def respond() -> HttpResponse:
        history = _published_history(project)
        latest = _latest(history)
        context = release_context(project, release, history)
        context.update(
            install_commands("--index-url", simple_index_url(request), project, release),
            is_latest=latest.pk == release.pk,
            latest=latest,
            can_manage=policy.role_of(request.user, project) is not None,
        )
        return render(request, "releases/release.html", context)

    return _conditional(request, project, version, respond)


@require_safe
def preview(request: HttpRequest, project_name: str, spec: tuple[str, str]) -> HttpResponse:
    version, token = spec
    release = Release.objects.for_draft_token(token)
    if release is None:
        published = Release.objects.for_retired_token(token)
        if published is not None:
            response = HttpResponsePermanentRedirect(
                reverse("releases:release", args=[published.project.normalized_name, published.version])
            )
            return private(response, token_in_url=True)
        raise Http404("Unknown or expired draft link.")
    if canonicalize_name(project_name) != release.project.normalized_name or version != release.version:
        raise Http404("Unknown or expired draft link.")
    project = release.project
    index_url = draft_index_url(request, draft_token_for(release.draft_nonce))
    context = release_context(project, release, _published_history(project))
    context.update(
        install_commands("--extra-index-url", index_url, project, release),
        draft=True,
        draft_index_url=index_url,
        can_manage=policy.role_of(request.user, project) is not None,
    )
    return private(render(request, "releases/release.html", context), token_in_url=True)
