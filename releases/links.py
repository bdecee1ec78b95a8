"""Absolute URLs that people copy: this index, a draft's index and its preview page."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from releases.models import Release


def simple_index_url(request: HttpRequest) -> str:
    """This index's /simple/: what the install commands of public pages name."""
    return request.build_absolute_uri(reverse("simpleindex:root"))


def draft_index_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("simpleindex:draft-root", args=[token]))


def preview_url(request: HttpRequest, release: Release, token: str) -> str:
    return request.build_absolute_uri(
        reverse("releases:preview", args=[release.project.normalized_name, (release.version, token)])
    )
