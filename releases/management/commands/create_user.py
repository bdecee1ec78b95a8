import getpass
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the account USERNAME. At a terminal the password is asked for (empty: generate "
        "one); otherwise, or with --no-input, a generated password is printed, only this once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--staff", action="store_true", help="May sign in to Django admin.")
        parser.add_argument("--no-input", "--noinput", dest="interactive", action="store_false")

    def handle(self, *args, username: str, email: str, staff: bool, interactive: bool, **options):
        User = get_user_model()
        user = User(username=username, email=User.objects.normalize_email(email), is_staff=staff)
        try:
            user.full_clean(exclude=["password"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        password = self._ask_password(user) if interactive and sys.stdin.isatty() else None
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(18)
        user.set_password(password)
        user.save()
        role = "staff account" if staff else "account"
        if generated:
            self.stdout.write(f"Created {role} '{username}' with password: {password}")
            self.stdout.write("This password is shown only once.")
        else:
            self.stdout.write(f"Created {role} '{username}'.")

    def _ask_password(self, user) -> str | None:
        while True:
            password = getpass.getpass("Password (empty: generate one): ")
            if not password:
                return None
            if getpass.getpass("Password (again): ") != password:
                self.stderr.write("The passwords differ. Try again.")
                continue
            try:
                validate_password(password, user)
            except ValidationError as exc:
                self.stderr.write("\n".join(exc.messages))
                continue
            return password
