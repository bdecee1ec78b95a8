from django.core.management.base import BaseCommand, CommandError

from releases.errors import PermissionDenied, ReleaseStateError
from releases.management.commands._helpers import find_release
from releases.services import Actor, publish_release


class Command(BaseCommand):
    help = "Publish the draft PROJECT VERSION (the same service as the web, admin and API)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("version")

    def handle(self, *args, project: str, version: str, **options):
        release = find_release(project, version)
        try:
            publish_release(release=release, actor=Actor.command())
        except (ReleaseStateError, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Published {release.project.name} {release.version}.")
