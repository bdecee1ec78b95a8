from django.core.management.base import BaseCommand

from releases.services import Actor, purge_expired_drafts


class Command(BaseCommand):
    help = "Delete drafts older than PYPIDRAFT_DRAFT_TTL_DAYS and their stored files."

    def handle(self, *args, **options):
        purged = purge_expired_drafts(actor=Actor.command())
        for name in purged:
            self.stdout.write(f"Purged {name}")
        self.stdout.write(f"{len(purged)} expired draft(s) purged.")
