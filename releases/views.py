"""Public project and release pages, and the draft preview (the token is the capability)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe
from packaging.utils import canonicalize_name

from releases.models import Project, Release
from releases.tokens import draft_token_for
from releases.urls_util import draft_index_url


def _public_project(project_name: str) -> Project:
    project = Project.objects.public().filter(normalized_name=canonicalize_name(project_name)).first()
    if project is None:
        raise Http404("No such project.")
    return project


@require_safe
def project_page(request: HttpRequest, project_name: str) -> HttpResponse:
    project = _public_project(project_name)
    if project.normalized_name != project_name:
        return HttpResponsePermanentRedirect(reverse("releases:project", args=[project.normalized_name]))
    releases = list(Release.objects.published().filter(project=project).order_by("-published"))
    latest = _latest(releases)
    return render(
        request,
        "releases/release.html",
        {"project": project, "release": latest, "history": releases, "files": latest.files.all(), "draft": False},
    )


def _latest(releases: list[Release]) -> Release:
    from packaging.version import Version

    stable = [r for r in releases if not Version(r.version).is_prerelease and not r.yanked]
    pool = stable or releases
    return max(pool, key=lambda r: Version(r.version))


@require_safe
def release_page(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    project = _public_project(project_name)
    release = Release.objects.published().filter(project=project, version=version).first()
    if release is None:
        raise Http404("No such release.")
    releases = list(Release.objects.published().filter(project=project).order_by("-published"))
    return render(
        request,
        "releases/release.html",
        {"project": project, "release": release, "history": releases, "files": release.files.all(), "draft": False},
    )


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
            return _private(response)
        raise Http404("Unknown or expired draft link.")
    if canonicalize_name(project_name) != release.project.normalized_name or version != release.version:
        raise Http404("Unknown or expired draft link.")
    index_url = draft_index_url(request, draft_token_for(release.draft_nonce))
    requirement = f"{release.project.normalized_name}=={release.version}"
    context = {
        "project": release.project,
        "release": release,
        "files": release.files.all(),
        "history": [],
        "draft": True,
        "draft_index_url": index_url,
        "pip_command": f"pip install --extra-index-url {index_url} {requirement}",
        "uv_command": f"uv pip install --extra-index-url {index_url} {requirement}",
    }
    return _private(render(request, "releases/release.html", context))


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response
