"""Every state change of projects and releases lives here, once.

Views, the upload endpoint, Django admin, the API and management commands call these
functions and never change release state themselves. Each one opens a transaction, locks
the rows it changes, checks the state, changes it, writes the public journal (only for
what becomes public) and the audit log, and raises a domain error otherwise.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from packaging.utils import canonicalize_version
from packaging.version import Version

from releases import hotpath
from releases.auth import Principal, role_of
from releases.errors import PermissionDenied, ReleaseStateError, UploadError
from releases.models import (
    ApiToken,
    AuditEvent,
    BurnedFilename,
    File,
    JournalEntry,
    ObjectDeletion,
    Project,
    Release,
    RetiredDraftToken,
    Role,
)
from releases.storage import PendingWrite, delete_objects, file_key, start_store
from releases.tokens import draft_token_for, draft_token_hash, new_api_token, new_draft_nonce

logger = logging.getLogger(__name__)

# Above this size an upload first looks for an identical stored file (no transfer then),
# and its object is written before the project is locked (see add_file_to_release).
LARGE_FILE_BYTES = 8 * 1024 * 1024
# Longer than any upload request lives (gunicorn's timeout is 120 s): a tombstone younger
# than this may be from a cleanup that ran after an upload's write began.
UPLOAD_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class Actor:
    """Who performs a state change, and through which channel, for the audit log."""

    user: Any
    channel: str
    client_ip: str | None = None
    token: ApiToken | None = None

    @classmethod
    def from_principal(cls, principal: Principal, channel: str, client_ip: str | None = None) -> Actor:
        return cls(user=principal.user, channel=channel, client_ip=client_ip, token=principal.token)


def _actor_name(actor: Actor, user) -> str:
    if user is not None:
        return user.get_username()
    if actor.channel == AuditEvent.COMMAND:
        # manage.py runs without a signed-in user; who acted is the operator's system account.
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return ""
    return ""


def _audit(actor: Actor, action: str, *, project: str = "", version: str = "", **detail: Any) -> None:
    _audit_event(actor, action, project=project, version=version, **detail).save()


def _audit_event(actor: Actor, action: str, *, project: str = "", version: str = "", **detail: Any) -> AuditEvent:
    """An unsaved audit event."""
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    return AuditEvent(
        actor=user,
        actor_name=_actor_name(actor, user),
        channel=actor.channel,
        action=action,
        project_name=project,
        version=version,
        detail=detail,
        client_ip=actor.client_ip,
        token_prefix=actor.token.prefix if actor.token else "",
    )


# --- journal -----------------------------------------------------------------------------


def _lock_journal() -> None:
    """Serialise public writes so serials become visible in order.

    Without this, a transaction that took serial 11 could commit before the one holding
    serial 10, and a mirror that already read 11 would never see 10.
    """
    hotpath.run(hotpath.journal_lock())


def _bump_project_serial(project: Project) -> None:
    project.last_serial = hotpath.run([hotpath.set_serial_from_journal(project)])[0][0][0]


# --- uploads -----------------------------------------------------------------------------


@dataclass
class IncomingFile:
    """A distribution file that passed every check of the upload pipeline."""

    filename: str
    packagetype: str
    python_version: str
    local_path: str
    size: int
    sha256: str
    blake2_256: str
    md5: str
    metadata: bytes | None
    requires_python: str = ""

    @property
    def key(self) -> str:
        return file_key(self.blake2_256, self.filename)


@dataclass
class UploadOutcome:
    release: Release
    file: File
    # "new", "replaced" or "unchanged"
    result: str
    replaced_key: str | None = None
    release_created: bool = False


def _file_exists_message(filename: str) -> str:
    # twine --skip-existing recognises a 400 whose reason starts with "File already exists".
    return (
        f"File already exists ('{filename}', with different contents). A published file can "
        "never be replaced: bump the version, or upload with --skip-existing to ignore it."
    )


def _identical_file(incoming: IncomingFile) -> File | None:
    """The stored file with this name and these very bytes, if any (a look without locks)."""
    return (
        File.objects.select_related("release__project")
        .filter(filename=incoming.filename, sha256_digest=incoming.sha256)
        .first()
    )


def _classify(
    incoming: IncomingFile, release: Release, matches: list[File], *, filename_burned: bool
) -> tuple[str, File | None]:
    """Return ("new" | "unchanged" | "replace", existing file), under the release's lock,
    from `matches`: the files with this filename or these bytes (digests are unique too)
    and the release's sdist, read by one query (with several, a row committed in between
    could look like two things at once). Raise for conflicts."""
    existing = next((f for f in matches if f.filename == incoming.filename), None)
    if existing is not None and existing.sha256_digest == incoming.sha256:
        return "unchanged", existing
    if existing is None and filename_burned:
        raise UploadError(
            400,
            f"File already exists: the filename '{incoming.filename}' was used by a "
            "published release and can never be reused. Use a new version.",
        )
    twin = next(
        (
            f
            for f in matches
            if f.filename != incoming.filename
            and (f.sha256_digest == incoming.sha256 or f.blake2_256_digest == incoming.blake2_256)
        ),
        None,
    )
    if twin is not None:
        raise UploadError(
            400,
            f"File already exists: these exact contents were uploaded as '{twin.filename}'. "
            "Each file must have contents of its own; build this one for its own tags.",
        )
    if existing is None:
        if any(f.release_id == release.pk and f.packagetype == File.SDIST for f in matches):
            raise UploadError(
                400,
                f"Only one sdist may be uploaded per release: {release.project.name} {release.version} "
                "already has one.",
            )
        return "new", None
    if existing.release_id == release.pk and release.is_draft:
        return "replace", existing
    raise UploadError(400, _file_exists_message(incoming.filename))


def add_file_to_release(
    *,
    project_name: str,
    normalized_name: str,
    version: Version,
    version_string: str,
    incoming: IncomingFile,
    metadata: dict[str, Any],
    principal: Principal,
    draft_requested: bool,
    client_ip: str | None = None,
) -> UploadOutcome:
    """Store an uploaded file and record it in its (new or existing) release.

    The object's key lock is held until commit (see _lock_object_key), so no cleanup can
    delete the object between the lock and the row. A small file's write begins at once
    (see storage.start_store) and goes on while the transaction checks and records it; if
    a cleanup deleted its key before the lock was ours (its tombstone says so), it is
    written again under the lock. A large one is written under the key lock but before
    any project lock, so a long transfer holds up no other upload to the project. If the
    transaction does not commit, the object goes unless a row references it. A replaced
    draft file's old object is deleted only after the replacement committed.
    """
    if incoming.size > LARGE_FILE_BYTES:
        # An identical re-upload of a large file answers without transferring it again.
        existing = _identical_file(incoming)
        if existing is not None:
            project = existing.release.project
            check_upload_rights(principal, project, role_of(principal.user, project))
            return UploadOutcome(release=existing.release, file=existing, result="unchanged")

    write: PendingWrite | None = None

    def start_write(*, again: bool = False) -> PendingWrite:
        nonlocal write
        if write is not None and again:
            write.settle()
            write = None
        if write is None:
            write = start_store(incoming.key, incoming.local_path, incoming.size)
        return write

    small = incoming.size <= LARGE_FILE_BYTES
    try:
        if small:
            # Before any lock: the write overlaps the database work. A cleanup of this key
            # that runs before the key lock is ours leaves a tombstone, and we write again.
            start_write()
        with hotpath.transaction():
            key_lock = hotpath.object_key_lock(incoming.key)
            if not small:
                hotpath.run(key_lock)
                start_write()
                key_lock = []
            outcome = _record_upload(
                project_name=project_name,
                normalized_name=normalized_name,
                version=version,
                version_string=version_string,
                incoming=incoming,
                metadata=metadata,
                principal=principal,
                draft_requested=draft_requested,
                client_ip=client_ip,
                key_lock=key_lock,
                written_before_lock=small,
                start_write=start_write,
            )
    except BaseException:
        if write is not None:
            write.settle()
            _delete_unreferenced([incoming.key])
        raise
    if outcome.result == "unchanged" and write is not None:
        # Written early for nothing: the same bytes under the same key, or a key to clean
        # up once the write is over (else it could land after the delete).
        write.settle()
        if outcome.file.path != incoming.key:
            _delete_unreferenced([incoming.key])
    if outcome.replaced_key and outcome.replaced_key != incoming.key:
        _delete_unreferenced([outcome.replaced_key])
    return outcome


def _lock_object_key(key: str) -> None:
    """Serialise, per storage key, an upload's write of its object and every cleanup.

    Keys are content addressed (blake2b + filename): two uploads of the same bytes share a
    key, and the key of a replaced or discarded draft file is the very key of the next
    upload of those bytes. An upload holds this lock until its row commits; a cleanup
    holds it from checking that no row references the key until the object is gone and
    its tombstone (ObjectDeletion) is written. So a cleanup either sees the row and keeps
    the object, or deletes it before the upload holds the lock, and then the upload finds
    the tombstone and writes the object again (a large file is written under the lock).
    """
    hotpath.run(hotpath.object_key_lock(key))


def _delete_unreferenced(keys: list[str]) -> None:
    """Delete the objects of `keys` that no row references (after a failed or replacing
    upload, a discard, a purge)."""
    for key in keys:
        try:
            with transaction.atomic():
                _lock_object_key(key)
                if File.objects.filter(path=key).exists():
                    continue
                # The tombstone commits with the delete: an upload whose write began
                # before the delete and that takes the key lock after it writes again.
                now = timezone.now()
                ObjectDeletion.objects.filter(deleted__lt=now - UPLOAD_LIFETIME).delete()
                ObjectDeletion.objects.bulk_create(
                    [ObjectDeletion(key=key, deleted=now)],
                    update_conflicts=True,
                    unique_fields=["key"],
                    update_fields=["deleted"],
                )
                delete_objects([key])
        except DatabaseError:
            # The database is gone: we cannot tell whether a row references the object,
            # so keep it; `manage.py check_storage --fix` removes it if it is an orphan.
            logger.warning("kept %s after a database failure; check_storage will reconcile it", key)


def check_upload_rights(principal: Principal, project: Project, role: str | None) -> None:
    """Raise a 403 UploadError unless the principal (whose role in the project is `role`)
    may upload to this existing project."""
    if not principal.may_act_on(project):
        raise UploadError(403, f"This API token is scoped to another project and cannot upload to '{project.name}'.")
    if role is None:
        raise UploadError(
            403,
            f"The user '{principal.user.get_username()}' isn't allowed to upload to project "
            f"'{project.name}'. Ask an owner of the project to add you as a maintainer.",
        )


def _create_project(name: str, normalized_name: str, principal: Principal) -> None:
    """Create the project with the uploader as its owner, unless another upload just did."""
    if principal.token is not None and principal.token.project_id is not None:
        raise UploadError(403, "This API token is scoped to one project and cannot create a new project.")
    try:
        with transaction.atomic():
            project = Project.objects.create(name=name, normalized_name=normalized_name)
            Role.objects.create(project=project, user=principal.user, role=Role.OWNER)
    except IntegrityError:
        pass  # Another upload created it first; it decides who owns the name.


def _record_upload(
    *,
    project_name: str,
    normalized_name: str,
    version: Version,
    version_string: str,
    incoming: IncomingFile,
    metadata: dict[str, Any],
    principal: Principal,
    draft_requested: bool,
    client_ip: str | None,
    key_lock: list[hotpath.Statement],
    written_before_lock: bool,
    start_write: Callable[..., PendingWrite],
) -> UploadOutcome:
    """Check and record the upload. The object key's lock travels with the project's
    (`key_lock`: empty when already held), and so does the look for a cleanup of the key
    since the object's write began (`written_before_lock`)."""
    canonical = canonical_version(version)
    first = list(key_lock)
    if written_before_lock:
        first.append(hotpath.object_deleted_since(incoming.key, timezone.now() - UPLOAD_LIFETIME))

    def lock_target(first: list[hotpath.Statement]) -> hotpath.UploadTarget:
        return hotpath.lock_upload_target(
            normalized_name,
            canonical,
            principal.user,
            filename=incoming.filename,
            sha256=incoming.sha256,
            blake2_256=incoming.blake2_256,
            sdist=incoming.packagetype == File.SDIST,
            first=first,
        )

    target = lock_target(first)
    deleted_meanwhile = written_before_lock and bool(target.first[-1][0][0])
    if target.project is None:
        _create_project(project_name, normalized_name, principal)
        target = lock_target([])
    project = target.project
    check_upload_rights(principal, project, project.user_role)

    release = target.release
    release_created = release is None
    if release is None:
        release = _new_release(
            project,
            version_string,
            canonical,
            principal,
            draft=draft_requested or not project.auto_publish_releases,
            metadata=metadata,
        )
    elif release.is_draft:
        if release.is_expired:
            raise UploadError(
                400,
                f"The draft of {project.name} {release.version} expired on "
                f"{release.draft_expires:%Y-%m-%d}. Discard it (dashboard, API or "
                "'manage.py discard_draft') and upload again.",
            )
    elif draft_requested:
        raise UploadError(
            400,
            f"{project.name} {release.version} is already published; it cannot become a draft. "
            "Upload a new version as a draft instead.",
        )
    release.project = project

    kind, existing = _classify(incoming, release, target.files, filename_burned=project.filename_burned)
    if kind == "unchanged":
        if existing.release_id == release.pk:
            existing.release = release
        return UploadOutcome(release=existing.release, file=existing, result="unchanged")
    write = start_write(again=deleted_meanwhile)

    stored = File(
        release=release,
        filename=incoming.filename,
        packagetype=incoming.packagetype,
        python_version=incoming.python_version,
        requires_python=incoming.requires_python,
        size=incoming.size,
        sha256_digest=incoming.sha256,
        blake2_256_digest=incoming.blake2_256,
        md5_digest=incoming.md5,
        uploader=principal.user,
        path=incoming.key,
        metadata=incoming.metadata,
        metadata_sha256=_sha256(incoming.metadata) if incoming.metadata is not None else None,
    )
    audit = _audit_event(
        Actor.from_principal(principal, AuditEvent.UPLOAD, client_ip),
        "replace file" if existing is not None else "upload file",
        project=project.name,
        version=release.version,
        filename=incoming.filename,
        sha256=incoming.sha256,
        draft=release.is_draft,
    )
    statements = []
    if existing is not None:
        statements.append(hotpath.delete(File, existing.pk))
    if release_created:
        # The file row takes the new release's id from the INSERT just before it.
        statements.append(hotpath.insert(release))
        file_insert = hotpath.insert(
            stored, returning=("id", "release"), expressions={"release_id": hotpath.release_id(project, canonical)}
        )
    else:
        # The release describes its newest upload.
        statements.append(hotpath.update(Release, release.pk, _release_changes(release, metadata, principal)))
        file_insert = hotpath.insert(stored, returning=("id", "release"))
    statements.append(file_insert)
    if release.is_draft:
        statements.append(hotpath.insert(audit))
    else:
        by = principal.user.get_username()
        actions = [JournalEntry.NEW_RELEASE] if release_created else []
        actions.append(JournalEntry.ADD_FILE.format(packagetype=stored.packagetype, filename=stored.filename))
        statements += [
            *hotpath.journal_lock(),
            *(hotpath.insert(_journal_entry(project, release, by, action)) for action in actions),
            hotpath.burn_filename(stored.filename, timezone.now()),
            serial := hotpath.set_serial_from_journal(project),
            hotpath.insert(audit),
        ]
    # The object must be stored before its row commits. The rows go with the COMMIT, in
    # one round trip after the wait: public uploads do not wait on each other's storage
    # writes under the journal's lock, and an S3 slower than the database costs no round trip.
    write.wait()
    results = hotpath.run(statements, commit=True)
    stored.pk, release.pk = results[statements.index(file_insert)][0]
    stored.release = release
    stored._state.adding = release._state.adding = False
    if not release.is_draft:
        project.last_serial = results[statements.index(serial)][0][0]

    return UploadOutcome(
        release=release,
        file=stored,
        result="replaced" if existing is not None else "new",
        replaced_key=existing.path if existing is not None else None,
        release_created=release_created,
    )


def _journal_entry(project: Project, release: Release, by: str, action: str) -> JournalEntry:
    return JournalEntry(name=project.normalized_name, version=release.version, action=action, submitted_by=by)


def _release_changes(release: Release, metadata: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The columns an upload changes on its existing release, also set on `release`."""
    # `metadata` holds Release field names only (upload.release_metadata builds it).
    changes = dict(metadata)
    if release.uploader_id is None:
        changes["uploader"] = principal.user.pk
    for name, value in changes.items():
        setattr(release, "uploader_id" if name == "uploader" else name, value)
    return changes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_version(version: Version) -> str:
    return canonicalize_version(version, strip_trailing_zero=False)


def _new_release(
    project: Project, version: str, canonical: str, principal: Principal, *, draft: bool, metadata: dict[str, Any]
) -> Release:
    release = Release(
        project=project, version=version, canonical_version=canonical, uploader=principal.user, **metadata
    )
    if draft:
        existing = list(Release.objects.live_drafts().filter(project=project).order_by("created"))
        if len(existing) >= settings.PYPIDRAFT_MAX_DRAFTS_PER_PROJECT:
            names = ", ".join(d.version for d in existing)
            raise UploadError(
                400,
                f"Too many drafts: {project.name} already has a draft ({names}) and allows at most "
                f"{settings.PYPIDRAFT_MAX_DRAFTS_PER_PROJECT}. Publish or discard it first "
                f"(dashboard, API, or 'manage.py publish_release {project.normalized_name} "
                f"{existing[0].version}').",
            )
        release.draft_nonce = new_draft_nonce()
        release.draft_token_hash = draft_token_hash(draft_token_for(release.draft_nonce))
    else:
        release.published = timezone.now()
    return release


# --- drafts ------------------------------------------------------------------------------


def _lock_release(release: Release) -> Release:
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
        locked = _lock_release(release)
        project = locked.project
        if not locked.is_draft:
            raise ReleaseStateError(
                f"{project.name} {locked.version} was already published on {locked.published:%Y-%m-%d %H:%M} UTC; nothing changed."
            )
        if locked.is_expired:
            raise ReleaseStateError(
                f"The draft of {project.name} {locked.version} has expired; discard it and upload again."
            )
        _lock_journal()
        now = timezone.now()
        by = actor.user.get_username() if getattr(actor.user, "is_authenticated", False) else actor.channel
        RetiredDraftToken.objects.create(token_hash=locked.draft_token_hash, release=locked)
        Release.objects.filter(pk=locked.pk).update(published=now, draft_nonce=None, draft_token_hash=None)
        _journal_entry(project, locked, by, JournalEntry.NEW_RELEASE).save(force_insert=True)
        with connection.cursor() as cursor:
            # Set-based writes: one statement each, whatever the number of files.
            cursor.execute(
                f"INSERT INTO {JournalEntry._meta.db_table} (name, version, action, submitted_date, submitted_by) "
                f"SELECT %s, %s, 'add ' || packagetype || ' file ' || filename, %s, %s "
                f"FROM {File._meta.db_table} WHERE release_id = %s ORDER BY filename",
                [project.normalized_name, locked.version, now, by, locked.pk],
            )
            cursor.execute(
                f"INSERT INTO {BurnedFilename._meta.db_table} (filename, created) "
                f"SELECT filename, %s FROM {File._meta.db_table} WHERE release_id = %s "
                "ON CONFLICT (filename) DO NOTHING",
                [now, locked.pk],
            )
        _bump_project_serial(project)
        _audit(actor, "publish", project=project.name, version=locked.version)
    locked.published, locked.draft_nonce, locked.draft_token_hash = now, None, None
    return locked


def discard_draft(*, release: Release, actor: Actor) -> None:
    """Delete a draft and, once that committed, its stored objects."""
    with transaction.atomic():
        locked = _lock_release(release)
        if not locked.is_draft:
            raise ReleaseStateError(
                f"{locked.project.name} {locked.version} is published; only drafts can be discarded."
            )
        keys = list(File.objects.filter(release=locked).values_list("path", flat=True))
        _audit(actor, "discard", project=locked.project.name, version=locked.version, files=len(keys))
        locked.delete()
        transaction.on_commit(lambda: _delete_unreferenced(keys))


def rotate_draft_token(*, release: Release, actor: Actor) -> str:
    """Give a draft a new token; the old URLs stop working at once. Returns the new token."""
    with transaction.atomic():
        locked = _lock_release(release)
        if not locked.is_draft:
            raise ReleaseStateError(f"{locked.project.name} {locked.version} is published; it has no draft link.")
        locked.draft_nonce = new_draft_nonce()
        token = draft_token_for(locked.draft_nonce)
        locked.draft_token_hash = draft_token_hash(token)
        locked.save(update_fields=["draft_nonce", "draft_token_hash"])
        _audit(actor, "rotate draft token", project=locked.project.name, version=locked.version)
    release.draft_nonce, release.draft_token_hash = locked.draft_nonce, locked.draft_token_hash
    return token


def purge_expired_drafts(*, actor: Actor) -> list[str]:
    """Delete every expired draft and its objects; return 'project version' for each."""
    purged = []
    for release in Release.objects.expired_drafts().select_related("project"):
        with transaction.atomic():
            try:
                locked = _lock_release(release)
            except ReleaseStateError:
                continue
            if not locked.is_draft or not locked.is_expired:
                continue
            keys = list(File.objects.filter(release=locked).values_list("path", flat=True))
            _audit(actor, "purge expired draft", project=release.project.name, version=release.version)
            locked.delete()
            transaction.on_commit(lambda keys=keys: _delete_unreferenced(keys))
        purged.append(f"{release.project.name} {release.version}")
    return purged


# --- projects and tokens -----------------------------------------------------------------


def acts_as_staff(actor: Actor) -> bool:
    """Staff act on any project, but only through Django admin or a command."""
    user = actor.user
    return (
        actor.channel in (AuditEvent.ADMIN, AuditEvent.COMMAND)
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
    )


def set_auto_publish(*, project: Project, enabled: bool, actor: Actor) -> Project:
    if role_of(actor.user, project) != Role.OWNER and not acts_as_staff(actor):
        raise PermissionDenied("Only owners can change project settings.")
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(auto_publish_releases=enabled)
        _audit(actor, "set auto_publish_releases", project=project.name, enabled=enabled)
    project.auto_publish_releases = enabled
    return project


def create_api_token(
    *, user, project: Project | None = None, description: str = "", actor: Actor | None = None
) -> tuple[ApiToken, str]:
    """Create an API token; the secret is returned once and never stored."""
    token, prefix, digest = new_api_token()
    with transaction.atomic():
        api_token = ApiToken.objects.create(
            user=user, project=project, description=description, prefix=prefix, digest=digest
        )
        _audit(
            actor or Actor(user=user, channel=AuditEvent.COMMAND),
            "create api token",
            project=project.name if project else "",
            token=prefix,
        )
    return api_token, token
