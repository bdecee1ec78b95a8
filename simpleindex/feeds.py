"""RSS feeds of published releases: the whole index, and one project.

Both start from `Release.objects.published()`: a draft never appears, and a published
draft appears at its publication time (not the time its first file was uploaded).

Every text goes through `xml_text` on its way out: metadata stored before uploads refused
control characters (or written by other means) must not make a feed unserializable, which
for the site-wide feed would be a 500 for everyone.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils.feedgenerator import Rss201rev2Feed

from releases.models import Project, Release
from releases.selectors import public_project

ITEMS = 40

# What XML 1.0 cannot carry at all: C0 controls other than tab, line feed and carriage
# return, lone surrogates and the noncharacters U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot carry (for every XML this index writes)."""
    return NOT_XML.sub("", value) if NOT_XML.search(value) else value


def _xml_safe(value: Any) -> Any:
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_xml_safe(item) for item in value)
    return value


class SafeRss201rev2Feed(Rss201rev2Feed):
    """RSS 2.0 whose texts are cleaned of what XML cannot carry, whatever the database holds."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})

    def add_item(self, *args: Any, **kwargs: Any) -> None:
        super().add_item(*map(_xml_safe, args), **{key: _xml_safe(value) for key, value in kwargs.items()})


class _ReleaseFeed(Feed):
    feed_type = SafeRss201rev2Feed

    def item_title(self, release: Release) -> str:
        return f"{release.project.name} {release.version}"

    def item_description(self, release: Release) -> str:
        return release.summary

    def item_link(self, release: Release) -> str:
        return reverse("releases:release", args=[release.project.normalized_name, release.version])

    def item_pubdate(self, release: Release):
        return release.published

    def item_author_name(self, release: Release) -> str:
        return release.author

    def item_author_email(self, release: Release) -> str:
        return release.author_email


class LatestUpdatesFeed(_ReleaseFeed):
    title = "pypidraft recent updates"
    description = "The newest published releases on this index."

    def link(self) -> str:
        return reverse("simpleindex:root")

    def items(self):
        return Release.objects.published().select_related("project").order_by("-published", "-pk")[:ITEMS]


class ProjectReleasesFeed(_ReleaseFeed):
    def get_object(self, request, project_name: str) -> Project:
        project = public_project(project_name)
        if project is None:
            raise Http404("No such project.")
        return project

    def title(self, project: Project) -> str:
        return f"{project.name} releases"

    def description(self, project: Project) -> str:
        return f"The newest published releases of {project.name}."

    def link(self, project: Project) -> str:
        return reverse("releases:project", args=[project.normalized_name])

    def items(self, project: Project):
        return (
            Release.objects.published()
            .filter(project=project)
            .select_related("project")
            .order_by("-published", "-pk")[:ITEMS]
        )
