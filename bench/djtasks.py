"""Benchmark set-up and timings that run inside pypidraft's Django (like `manage.py shell`).

Run with the repository's Python from the repository root, with the server's environment:

    python bench/djtasks.py create-user NAME PASSWORD
    python bench/djtasks.py insert-root MANIFEST.json OWNER
    python bench/djtasks.py make-drafts OWNER PREFIX COUNT FILES      -> JSON [[project, version], ...]
    python bench/djtasks.py publish-timing OWNER PREFIX REPEAT FILES  -> JSON timings and query counts

Rows are written with the ORM in the same shape the upload pipeline writes them (project,
owner role, release, file, burned filename, journal entries, the project's last serial),
in bulk, because uploading 10,000 projects one by one through twine would take most of
an hour. Their objects are not put in the object store (nothing downloads them here).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pypidraft.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from releases import services  # noqa: E402
from releases.accounts.tokens import draft_token_for, draft_token_hash, new_draft_nonce  # noqa: E402
from releases.models import AuditEvent, BurnedFilename, File, JournalEntry, Project, Release, Role  # noqa: E402
from releases.services import journal  # noqa: E402
from releases.storage import file_key  # noqa: E402


def create_user(name: str, password: str) -> None:
    user_model = get_user_model()
    if not user_model.objects.filter(username=name).exists():
        user_model.objects.create_user(name, password=password)


def insert_root(manifest_path: str, owner: str) -> None:
    user = get_user_model().objects.get(username=owner)
    rows = json.loads(Path(manifest_path).read_text())
    now = timezone.now()
    with transaction.atomic():
        journal._lock_journal()
        projects = Project.objects.bulk_create(
            [Project(name=r["name"], normalized_name=r["name"], created=now) for r in rows], batch_size=2000
        )
        by_name = {p.normalized_name: p for p in projects}
        Role.objects.bulk_create([Role(project=p, user=user, role=Role.OWNER) for p in projects], batch_size=2000)
        releases = Release.objects.bulk_create(
            [
                Release(
                    project=by_name[r["name"]],
                    version=r["version"],
                    canonical_version=r["version"],
                    created=now,
                    published=now,
                    uploader=user,
                    metadata_version="2.1",
                    summary=f"Root index project {r['name']}",
                    requires_python=">=3.8",
                )
                for r in rows
            ],
            batch_size=2000,
        )
        File.objects.bulk_create(
            [
                File(
                    release=release,
                    filename=r["filename"],
                    packagetype=File.SDIST,
                    python_version="source",
                    requires_python=">=3.8",
                    size=r["size"],
                    sha256_digest=r["sha256"],
                    blake2_256_digest=r["blake2_256"],
                    md5_digest=r["md5"],
                    upload_time=now,
                    uploader=user,
                    path=file_key(r["blake2_256"], r["filename"]),
                )
                for release, r in zip(releases, rows, strict=True)
            ],
            batch_size=2000,
        )
        BurnedFilename.objects.bulk_create([BurnedFilename(filename=r["filename"]) for r in rows], batch_size=2000)
        entries = []
        for r in rows:
            entries.append(
                JournalEntry(name=r["name"], version=r["version"], action=JournalEntry.NEW_RELEASE, submitted_by=owner)
            )
            entries.append(
                JournalEntry(
                    name=r["name"],
                    version=r["version"],
                    action=JournalEntry.ADD_FILE.format(packagetype=File.SDIST, filename=r["filename"]),
                    submitted_by=owner,
                )
            )
        entries = JournalEntry.objects.bulk_create(entries, batch_size=4000)
        for entry in entries:
            project = by_name[entry.name]
            project.last_serial = max(project.last_serial or 0, entry.pk)
        Project.objects.bulk_update(projects, ["last_serial"], batch_size=2000)
    print(json.dumps({"inserted": len(rows)}))


def _make_draft(user, name: str, files: int) -> Release:
    """A project with one draft release of `files` wheels (rows only: publishing moves no bytes)."""
    version = "1.0.0"
    dist = name.replace("-", "_")
    with transaction.atomic():
        project = Project.objects.create(name=name, normalized_name=name)
        Role.objects.create(project=project, user=user, role=Role.OWNER)
        nonce = new_draft_nonce()
        release = Release.objects.create(
            project=project,
            version=version,
            canonical_version=version,
            uploader=user,
            draft_nonce=nonce,
            draft_token_hash=draft_token_hash(draft_token_for(nonce)),
            metadata_version="2.1",
            summary="A draft for the publish benchmark",
        )
        rows = []
        for i in range(files):
            filename = f"{dist}-{version}-{i + 1}-py3-none-any.whl"
            sha, b2 = secrets.token_hex(32), secrets.token_hex(32)
            metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
            rows.append(
                File(
                    release=release,
                    filename=filename,
                    packagetype=File.WHEEL,
                    python_version="py3",
                    size=1000 + i,
                    sha256_digest=sha,
                    blake2_256_digest=b2,
                    md5_digest=secrets.token_hex(16),
                    uploader=user,
                    path=file_key(b2, filename),
                    metadata=metadata,
                    metadata_sha256=secrets.token_hex(32),
                )
            )
        File.objects.bulk_create(rows, batch_size=1000)
    return release


def make_drafts(owner: str, prefix: str, count: int, files: int) -> None:
    user = get_user_model().objects.get(username=owner)
    made = []
    for k in range(count):
        release = _make_draft(user, f"{prefix}-{k}", files)
        made.append([release.project.normalized_name, release.version])
    print(json.dumps(made))


def publish_timing(owner: str, prefix: str, repeat: int, files: int) -> None:
    """Time services.publish_release on drafts of `files` files; count its queries for
    `files` files and for 5 files (they must be equal)."""
    user = get_user_model().objects.get(username=owner)
    actor = services.Actor(user=user, channel=AuditEvent.COMMAND)
    timings = []
    for k in range(repeat):
        release = _make_draft(user, f"{prefix}-t{k}", files)
        started = time.perf_counter()
        services.publish_release(release=release, actor=actor)
        timings.append(time.perf_counter() - started)
    queries = {}
    for n in (files, 5):
        release = _make_draft(user, f"{prefix}-q{n}", n)
        with CaptureQueriesContext(connection) as captured:
            services.publish_release(release=release, actor=actor)
        queries[n] = len(captured.captured_queries)
    published = Release.objects.filter(project__normalized_name__startswith=prefix, published__isnull=False).count()
    journal = JournalEntry.objects.filter(name=f"{prefix}-t0").count()
    print(
        json.dumps(
            {
                "files": files,
                "seconds": timings,
                "median": statistics.median(timings),
                "queries": {str(k): v for k, v in queries.items()},
                "published": published,
                "journal_entries_first": journal,
            }
        )
    )


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "create-user":
        create_user(*args)
    elif command == "insert-root":
        insert_root(*args)
    elif command == "make-drafts":
        make_drafts(args[0], args[1], int(args[2]), int(args[3]))
    elif command == "publish-timing":
        publish_timing(args[0], args[1], int(args[2]), int(args[3]))
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
