from django.core.management.base import CommandError
from packaging.utils import canonicalize_name

from releases.models import Release
from releases.selectors import find_release as find_by_version


def find_release(project: str, version: str) -> Release:
    """A release of any state (operators act on drafts), by any spelling of name and version."""
    releases = Release.objects.select_related("project").filter(project__normalized_name=canonicalize_name(project))
    release = find_by_version(releases, version)
    if release is None:
        raise CommandError(f"No release {version} of project {project!r}.")
    return release
