from django.core.management.base import BaseCommand

from releases.management.commands._helpers import command_actor
from releases.services import purge_expired_drafts


class Command(BaseCommand):
    help = "Delete drafts older than PYPIDRAFT_DRAFT_TTL_DAYS and their stored files."

    def handle(self, *args, **options):
        purged = purge_expired_drafts(actor=command_actor())
        for name in purged:
            self.stdout.write(f"Purged {name}")
        self.stdout.write(f"{len(purged)} expired draft(s) purged.")
