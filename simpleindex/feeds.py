"""RSS feeds of published releases: the whole index, and one project.

Both start from `Release.objects.published()`: a draft never appears, and a published
draft appears at its publication time (not the time its first file was uploaded).
"""

from __future__ import annotations

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils.feedgenerator import Rss201rev2Feed

from releases.models import Project, Release
from releases.selectors import public_project

ITEMS = 40


class _ReleaseFeed(Feed):
    feed_type = Rss201rev2Feed

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
