"""State changes of a draft: publish, discard, rotate its link, purge when expired."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from releases.accounts.tokens import draft_token_for, draft_token_hash, new_draft_nonce
from releases.errors import ReleaseStateError
from releases.models import BurnedFilename, File, JournalEntry, Project, Release, RetiredDraftToken
from releases.services import policy
from releases.services.actors import Actor
from releases.services.audit import audit
from releases.services.journal import write_journal
from releases.storage.cleanup import delete_unreferenced


def lock_release(release: Release) -> Release:
    """Lock the project, then the release: the order uploads use, so the two never deadlock."""
    project = Project.objects.select_for_update().filter(pk=release.project_id).first()
    locked = Release.objects.select_for_update().filter(pk=release.pk).first()
    if project is None or locked is None:
        raise ReleaseStateError(f"{release.version} no longer exists: it was discarded.")
    locked.project = project
    return locked


def draft_token(release: Release) -> str:
    """The draft's current token, for the people allowed to see it."""
    if not release.is_draft:
        raise ReleaseStateError(f"{release} is published; it has no draft token.")
    return draft_token_for(release.draft_nonce)


def publish_release(*, release: Release, actor: Actor) -> Release:
    """Make a draft public, atomically, in a number of queries independent of its files."""
    with transaction.atomic():
        locked = lock_release(release)
        project = locked.project
        policy.require_maintainer(actor, project, "publish releases")
        if not locked.is_draft:
            raise ReleaseStateError(
                f"{project.name} {locked.version} was already published on {locked.published:%Y-%m-%d %H:%M} UTC; nothing changed."
            )
        if locked.is_expired:
            raise ReleaseStateError(
                f"The draft of {project.name} {locked.version} has expired; discard it and upload again."
            )
        now = timezone.now()
        RetiredDraftToken.objects.create(token_hash=locked.draft_token_hash, release=locked)
        Release.objects.filter(pk=locked.pk).update(published=now, draft_nonce=None, draft_token_hash=None)
        by = actor.authenticated_user.get_username() if actor.authenticated_user else actor.channel
        write_journal(project, version=locked.version, actions=[JournalEntry.NEW_RELEASE], by=by, files_of=locked)
        _burn_filenames(locked, now)
        audit(actor, "publish", project=project.name, version=locked.version)
    locked.published, locked.draft_nonce, locked.draft_token_hash = now, None, None
    return locked


def _burn_filenames(release: Release, when) -> None:
    # Set based: one statement whatever the number of files.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BurnedFilename._meta.db_table} (filename, created) "
            f"SELECT filename, %s FROM {File._meta.db_table} WHERE release_id = %s "
            "ON CONFLICT (filename) DO NOTHING",
            [when, release.pk],
        )


def discard_draft(*, release: Release, actor: Actor) -> None:
    """Delete a draft and, once that committed, its stored objects."""
    with transaction.atomic():
        locked = lock_release(release)
        policy.require_maintainer(actor, locked.project, "discard drafts")
        if not locked.is_draft:
            raise ReleaseStateError(
                f"{locked.project.name} {locked.version} is published; only drafts can be discarded."
            )
        _delete_draft(locked, actor, "discard")


def _delete_draft(locked: Release, actor: Actor, action: str) -> None:
    keys = list(File.objects.filter(release=locked).values_list("path", flat=True))
    audit(actor, action, project=locked.project.name, version=locked.version, files=len(keys))
    locked.delete()
    transaction.on_commit(lambda: delete_unreferenced(keys))


def rotate_draft_token(*, release: Release, actor: Actor) -> str:
    """Give a draft a new token; the old URLs stop working at once. Returns the new token."""
    with transaction.atomic():
        locked = lock_release(release)
        policy.require_maintainer(actor, locked.project, "rotate draft links")
        if not locked.is_draft:
            raise ReleaseStateError(f"{locked.project.name} {locked.version} is published; it has no draft link.")
        locked.draft_nonce = new_draft_nonce()
        token = draft_token_for(locked.draft_nonce)
        locked.draft_token_hash = draft_token_hash(token)
        locked.save(update_fields=["draft_nonce", "draft_token_hash"])
        audit(actor, "rotate draft token", project=locked.project.name, version=locked.version)
    release.draft_nonce, release.draft_token_hash = locked.draft_nonce, locked.draft_token_hash
    return token


def purge_expired_drafts(*, actor: Actor) -> list[str]:
    """Delete every expired draft and its objects; return 'project version' for each."""
    policy.require_staff(actor, "Only operators and staff can purge expired drafts.")
    purged = []
    for release in Release.objects.expired_drafts().select_related("project"):
        with transaction.atomic():
            try:
                locked = lock_release(release)
            except ReleaseStateError:
                continue
            if not locked.is_draft or not locked.is_expired:
                continue
            _delete_draft(locked, actor, "purge expired draft")
        purged.append(f"{release.project.name} {release.version}")
    return purged
