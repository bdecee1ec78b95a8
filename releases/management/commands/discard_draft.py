from django.core.management.base import BaseCommand, CommandError

from releases.errors import PermissionDenied, ReleaseStateError
from releases.management.commands._helpers import find_release
from releases.services import Actor, discard_draft


class Command(BaseCommand):
    help = "Discard the draft PROJECT VERSION and delete its stored files."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("version")

    def handle(self, *args, project: str, version: str, **options):
        release = find_release(project, version)
        try:
            discard_draft(release=release, actor=Actor.command())
        except (ReleaseStateError, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Discarded the draft {release.project.name} {release.version}.")
