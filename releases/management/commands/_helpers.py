from django.core.management.base import CommandError
from packaging.utils import canonicalize_name

from releases.models import AuditEvent, Release
from releases.services import Actor


def find_release(project: str, version: str) -> Release:
    release = (
        Release.objects.select_related("project")
        .filter(project__normalized_name=canonicalize_name(project), version=version)
        .first()
    )
    if release is None:
        raise CommandError(f"No release {version} of project {project!r}.")
    return release


def command_actor() -> Actor:
    return Actor(user=None, channel=AuditEvent.COMMAND)
