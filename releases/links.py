"""Absolute URLs that maintainers copy: a draft's index and its preview page."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from releases.models import Release


def draft_index_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("simpleindex:draft-root", args=[token]))


def preview_url(request: HttpRequest, release: Release, token: str) -> str:
    return request.build_absolute_uri(
        reverse("releases:preview", args=[release.project.normalized_name, (release.version, token)])
    )
