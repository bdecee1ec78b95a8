from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from releases.services import Actor
from releases.services.storage import repair_storage
from releases.storage.integrity import StorageReport, check_storage


class Command(BaseCommand):
    help = (
        "Compare the package storage with the database: objects without rows (orphans), rows "
        "without objects (missing) and objects whose size (with --deep: sha256) is not the row's "
        "(damaged). With --fix, delete orphans older than --grace-minutes and drop draft files "
        "whose object is gone; missing and damaged published files are only reported."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true")
        parser.add_argument("--deep", action="store_true", help="Also read every object and check its sha256.")
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=60,
            help="Ignore objects younger than this: an upload may be about to record them.",
        )

    def handle(self, *args, fix: bool, deep: bool, grace_minutes: int, **options):
        older_than = timezone.now() - timedelta(minutes=grace_minutes)
        report: StorageReport = check_storage(older_than=older_than, deep=deep)
        for key in report.orphans:
            self.stdout.write(f"orphan object: {key}")
        for filename, path, draft in report.missing:
            self.stdout.write(f"missing object for {'draft' if draft else 'published'} file {filename}: {path}")
        for filename, path, draft, problem in report.damaged:
            self.stdout.write(
                f"damaged object for {'draft' if draft else 'published'} file {filename}: {problem}: {path}"
            )
        self.stdout.write(
            f"{report.objects} objects, {report.rows} rows, {len(report.orphans)} orphans, "
            f"{len(report.missing)} missing, {len(report.damaged)} damaged"
        )
        if report.damaged:
            self.stderr.write(f"{len(report.damaged)} files have damaged objects: restore them from a backup.")
        if fix:
            deleted, dropped = repair_storage(report, actor=Actor.command())
            self.stdout.write(f"fixed: deleted {deleted} orphan objects, removed {dropped} draft file rows")
            unfixable = sum(1 for *_rest, draft in report.missing if not draft)
            if unfixable:
                self.stderr.write(f"{unfixable} published files have no object: restore them from a backup.")
