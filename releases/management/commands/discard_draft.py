from django.core.management.base import BaseCommand, CommandError

from releases.errors import ReleaseStateError
from releases.management.commands._helpers import command_actor, find_release
from releases.services import discard_draft


class Command(BaseCommand):
    help = "Discard the draft PROJECT VERSION and delete its stored files."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("version")

    def handle(self, *args, project: str, version: str, **options):
        release = find_release(project, version)
        try:
            discard_draft(release=release, actor=command_actor())
        except ReleaseStateError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Discarded the draft {release.project.name} {release.version}.")
