"""Reusable reads: each rule for finding, ordering and counting releases exists once here.

Who may see what stays in the queryset methods (`Release.objects.published()`, `.drafts()`,
`.visible_to(user)`, `Project.objects.public()`); these functions take such a queryset
when the caller's visibility differs, so one lookup serves the public pages, the JSON API,
the maintainer API, the dashboard and the management commands alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from django.db import connection
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from releases.models import File, Project, Release
from releases.names import canonical_version


def version_key(version: str) -> tuple[int, Any]:
    """Sort key of a version string: PEP 440 order, anything unparsable before every version."""
    try:
        return (1, Version(version))
    except InvalidVersion:  # versions are validated on upload; old rows may predate that
        return (0, version)


def by_version(releases: Iterable[Release], *, newest_first: bool = False) -> list[Release]:
    return sorted(releases, key=lambda release: version_key(release.version), reverse=newest_first)


def _is_final(release: Release) -> bool:
    try:
        return not Version(release.version).is_prerelease
    except InvalidVersion:
        return False


def latest_release(releases: Iterable[Release]) -> Release | None:
    """What pypi.org shows as a project's version (None for no releases).

    Like Warehouse: the newest final release among the unyanked ones, else the newest
    prerelease among them; only when every release is yanked, the same rule over all.
    """
    releases = list(releases)
    pool = [release for release in releases if not release.yanked] or releases
    if not pool:
        return None
    return max(pool, key=lambda release: (_is_final(release), version_key(release.version)))


def find_release(releases: QuerySet[Release], version: str) -> Release | None:
    """The release of `releases` with this version as uploaded, else with its canonical form
    (`v1.0` and `1.00` find `1.0`). `releases` sets the visibility (and the project).

    One query whether the release exists or not: a lookup that took one query for an
    existing draft and two for a missing version told outsiders which drafts exist."""
    match = Q(version=version)
    with suppress(InvalidVersion, ValueError):  # ValueError: a number past Python's digit limit
        match |= Q(canonical_version=canonical_version(Version(version)))
    # Canonical versions are unique per project: within one project both conditions can
    # only ever match the same release.
    return releases.filter(match).first()


def public_project(name: str) -> Project | None:
    """The project by any spelling of its name, if it has a published release."""
    return Project.objects.public().filter(normalized_name=canonicalize_name(name)).first()


def published_releases(project: Project) -> QuerySet[Release]:
    """A project's published releases with their files, in filename order."""
    return (
        Release.objects.published()
        .filter(project=project)
        .prefetch_related(Prefetch("files", queryset=File.objects.order_by("filename")))
    )


def with_release_counts(projects: QuerySet[Project]) -> QuerySet[Project]:
    """Annotate `draft_count` and `published_count`."""
    return projects.annotate(
        draft_count=Count("releases", filter=Q(releases__published__isnull=True), distinct=True),
        published_count=Count("releases", filter=Q(releases__published__isnull=False), distinct=True),
    )


def with_file_count(releases: QuerySet[Release]) -> QuerySet[Release]:
    """Annotate `file_count`."""
    return releases.annotate(file_count=Count("files"))


def recent_releases(*, limit: int = 20) -> list[Release]:
    """The newest published releases, newest first, with their projects."""
    return list(Release.objects.published().select_related("project").order_by("-published", "-pk")[:limit])


SEARCH_QUERY_MAX_LENGTH = 200
SEARCH_LIMIT = 50


def _summary_matches(query: str) -> QuerySet[Release]:
    """Published releases whose project name or summary matches `query` as text.

    PostgreSQL: full-text search (English stemming, web-search syntax: quotes, `or`, `-`).
    Other databases (SQLite in development): a case-insensitive substring of the summary.
    """
    published = Release.objects.published()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        document = SearchVector("project__name", "summary", config="english")
        return published.annotate(document=document).filter(
            document=SearchQuery(query, config="english", search_type="websearch")
        )
    return published.filter(summary__icontains=query)


def search_projects(query: str, *, limit: int = SEARCH_LIMIT) -> list[tuple[Project, Release]]:
    """Public projects matching `query` by name or by a published release's summary, each
    with its latest release: exact name first, then names that start with or contain the
    query, then summary matches, each group by name. Drafts never match nor show."""
    query = query.strip()[:SEARCH_QUERY_MAX_LENGTH]
    if not query:
        return []
    normalized = canonicalize_name(query)
    name_match = Q(name__icontains=query) | Q(normalized_name__icontains=normalized)
    text_match = Exists(_summary_matches(query).filter(project=OuterRef("pk")))
    projects = list(
        Project.objects.public()
        .filter(name_match | text_match)
        .annotate(
            match_order=Case(
                When(normalized_name=normalized, then=Value(0)),
                When(normalized_name__startswith=normalized, then=Value(1)),
                When(name_match, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        .order_by("match_order", "normalized_name")[:limit]
    )
    releases: dict[int, list[Release]] = {project.pk: [] for project in projects}
    fields = ("pk", "project_id", "version", "summary", "yanked", "published")
    for release in Release.objects.published().filter(project__in=projects).only(*fields):
        releases[release.project_id].append(release)
    results = []
    for project in projects:
        latest = latest_release(releases[project.pk])
        if latest is not None:  # public() saw one; a concurrent discard may not leave one
            results.append((project, latest))
    return results
