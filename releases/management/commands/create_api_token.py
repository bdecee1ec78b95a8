from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from packaging.utils import canonicalize_name

from releases.models import Project
from releases.services import create_api_token


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it (shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", help="Scope the token to this project.")
        parser.add_argument("--description", default="")

    def handle(self, *args, username: str, project: str | None, description: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        scoped = None
        if project:
            scoped = Project.objects.filter(normalized_name=canonicalize_name(project)).first()
            if scoped is None:
                raise CommandError(f"No project {project!r}.")
        _api_token, token = create_api_token(user=user, project=scoped, description=description)
        self.stdout.write(token)
