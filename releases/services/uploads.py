"""Adding an uploaded file to a release: the one state change behind every upload door.

An upload runs in one transaction, in this order:

1. the storage key's lock (releases.storage.cleanup), then the project (created, with the
   uploader as owner, if the name is new) and the release, locked in the order every
   state change uses;
2. the uploader's rights (releases.services.policy), known before anything is written;
3. the object, created unless one is there already (keys are content addressed: an
   existing object is never rewritten), on a writer thread while the transaction goes on;
4. the files in its way (same name, same bytes, the release's sdist): new, replaced,
   unchanged, or a 400;
5. the rows (release, file, journal for a public release, audit), which commit together
   once the object is stored.

If anything fails after this upload created the object, the object is deleted again,
unless a row references it. A large file is looked for once without locks (an identical
re-upload then costs no transfer), and its object is written before the project is locked
so a long transfer holds up no other upload to the project; its rights are checked before
that write, and again under the lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from packaging.version import Version

from releases.accounts.authentication import Principal
from releases.accounts.tokens import draft_token_for, draft_token_hash, new_draft_nonce
from releases.errors import PermissionDenied, UploadError
from releases.models import AuditEvent, BurnedFilename, File, JournalEntry, Project, Release, Role
from releases.names import canonical_version
from releases.services import policy
from releases.services.actors import Actor
from releases.services.audit import audit_event
from releases.services.journal import add_file_action, write_journal
from releases.storage.cleanup import delete_unreferenced, lock_object_key
from releases.storage.keys import file_key
from releases.storage.objects import PendingObject, start_create

# Above this size an upload first looks for an identical stored file (no transfer then),
# and its object is written before the project is locked.
LARGE_FILE_BYTES = 8 * 1024 * 1024

# What an upload reads of the files in its way; the rest (their metadata blobs) stays deferred.
FILE_FIELDS = ("id", "release", "filename", "packagetype", "sha256_digest", "blake2_256_digest", "path")


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


@dataclass
class _Upload:
    """One upload on its way through the steps below."""

    project_name: str
    normalized_name: str
    version: Version
    version_string: str
    incoming: IncomingFile
    metadata: dict[str, Any]
    principal: Principal
    draft_requested: bool
    client_ip: str | None = None
    # The write of the object under incoming.key, once started; if it created the object
    # and the upload fails, the object is deleted again.
    write: PendingObject | None = field(default=None, init=False)

    @property
    def canonical_version(self) -> str:
        return canonical_version(self.version)

    @property
    def large(self) -> bool:
        return self.incoming.size > LARGE_FILE_BYTES


def add_file_to_release(**kwargs: Any) -> UploadOutcome:
    """Store an uploaded file and record it in its (new or existing) release.

    Keyword arguments: project_name, normalized_name, version, version_string, incoming,
    metadata (Release field names, see uploads.validation.release_metadata), principal,
    draft_requested, client_ip. Raises UploadError (4xx) or StorageUnavailable (503).
    """
    upload = _Upload(**kwargs)
    try:
        if upload.large and (outcome := _identical_large_file(upload)) is not None:
            return outcome
        try:
            with transaction.atomic():
                outcome = _add_locked(upload)
        except BaseException:
            if upload.write is not None:
                upload.write.settle()
                if upload.write.created:
                    delete_unreferenced([upload.incoming.key])
            raise
    except PermissionDenied as exc:
        raise UploadError(403, str(exc)) from None
    if outcome.replaced_key and outcome.replaced_key != upload.incoming.key:
        delete_unreferenced([outcome.replaced_key])
    return outcome


def _add_locked(upload: _Upload) -> UploadOutcome:
    """The steps under the key's, the project's and the release's locks."""
    lock_object_key(upload.incoming.key)
    if upload.large:
        authorize(upload.principal, upload.normalized_name, upload.project_name)
        _start_write(upload).wait()
    project = _locked_project(upload)
    # The rights are known: the object's write overlaps the rest (a file refused below
    # has its object deleted again; an identical re-upload finds its object there).
    write = upload.write or _start_write(upload)
    release, created = _release_for_upload(upload, project)
    kind, existing = _classify(upload.incoming, release, _files_in_the_way(upload, project), project.filename_burned)
    if kind == "unchanged":
        write.settle()
        if existing.release_id == release.pk:
            existing.release = release
        return UploadOutcome(release=existing.release, file=existing, result="unchanged")
    stored = _record(upload, project, release, created=created, replacing=existing)
    write.wait()  # The object is stored before its row commits.
    return UploadOutcome(
        release=release,
        file=stored,
        result="replaced" if existing is not None else "new",
        replaced_key=existing.path if existing is not None else None,
    )


def authorize(principal: Principal, normalized_name: str, as_named: str) -> None:
    """Refuse an upload to someone else's existing project (no lock: an early answer, given
    again under the lock)."""
    project = Project.objects.filter(normalized_name=normalized_name).first()
    if project is not None:
        policy.require_upload(principal, project, policy.role_of(principal.user, project), as_named=as_named)


def _identical_large_file(upload: _Upload) -> UploadOutcome | None:
    """An identical re-upload of a large file answers without transferring it again."""
    existing = (
        File.objects.select_related("release__project")
        .filter(filename=upload.incoming.filename, sha256_digest=upload.incoming.sha256)
        .first()
    )
    if existing is None:
        return None
    project = existing.release.project
    policy.require_upload(
        upload.principal, project, policy.role_of(upload.principal.user, project), as_named=upload.project_name
    )
    return UploadOutcome(release=existing.release, file=existing, result="unchanged")


def _start_write(upload: _Upload) -> PendingObject:
    """Create the object (unless it is there), on a writer thread while the rows are
    written. Under the key's lock: no cleanup of this key runs until our row commits."""
    incoming = upload.incoming
    upload.write = start_create(incoming.key, incoming.local_path, incoming.size)
    return upload.write


# --- the project and the release ------------------------------------------------------


def _locked_project(upload: _Upload) -> Project:
    """The project, locked, with `user_role` and `filename_burned`; created with the
    uploader as owner if the name is new. Raises PermissionDenied unless they may upload."""
    project = _lock_project(upload)
    if project is None:
        policy.require_project_creation(upload.principal)
        _create_project(upload)
        project = _lock_project(upload)
    policy.require_upload(upload.principal, project, project.user_role, as_named=upload.project_name)
    return project


def _lock_project(upload: _Upload) -> Project | None:
    role = Role.objects.filter(project=OuterRef("pk"), user=upload.principal.user.pk).values("role")[:1]
    return (
        Project.objects.select_for_update()
        .annotate(
            user_role=Subquery(role),
            filename_burned=Exists(BurnedFilename.objects.filter(filename=upload.incoming.filename)),
        )
        .filter(normalized_name=upload.normalized_name)
        .first()
    )


def _create_project(upload: _Upload) -> None:
    """Create the project with the uploader as its owner, unless another upload just did."""
    try:
        with transaction.atomic():
            project = Project.objects.create(name=upload.project_name, normalized_name=upload.normalized_name)
            Role.objects.create(project=project, user=upload.principal.user, role=Role.OWNER)
    except IntegrityError:
        pass  # Another upload created it first; it decides who owns the name.


def _release_for_upload(upload: _Upload, project: Project) -> tuple[Release, bool]:
    """The release the file goes to, locked (or new, unsaved), and whether it is new."""
    release = (
        Release.objects.select_for_update().filter(project=project, canonical_version=upload.canonical_version).first()
    )
    if release is None:
        return _new_release(upload, project), True
    release.project = project
    if release.is_draft and release.is_expired:
        raise UploadError(
            400,
            f"The draft of {project.name} {release.version} expired on "
            f"{release.draft_expires:%Y-%m-%d}. Discard it (dashboard, API or "
            "'manage.py discard_draft') and upload again.",
        )
    if not release.is_draft and upload.draft_requested:
        raise UploadError(
            400,
            f"{project.name} {release.version} is already published; it cannot become a draft. "
            "Upload a new version as a draft instead.",
        )
    return release, False


def _new_release(upload: _Upload, project: Project) -> Release:
    release = Release(
        project=project,
        version=upload.version_string,
        canonical_version=upload.canonical_version,
        uploader=upload.principal.user,
        **upload.metadata,
    )
    if upload.draft_requested or not project.auto_publish_releases:
        _check_draft_limit(project)
        release.draft_nonce = new_draft_nonce()
        release.draft_token_hash = draft_token_hash(draft_token_for(release.draft_nonce))
    else:
        release.published = release.created
    return release


def _check_draft_limit(project: Project) -> None:
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


# --- the files in the way -------------------------------------------------------------


def _files_in_the_way(upload: _Upload, project: Project) -> list[File]:
    """The files with this filename or these bytes, and the release's sdist when this is
    one: one query, so a row committed in between cannot look like two things at once."""
    incoming = upload.incoming
    files = File.objects.only(*FILE_FIELDS).order_by()
    same = files.filter(
        Q(filename=incoming.filename) | Q(sha256_digest=incoming.sha256) | Q(blake2_256_digest=incoming.blake2_256)
    )
    if incoming.packagetype == File.SDIST:
        # A UNION, not one more OR: an OR over the release join turns the unique-index
        # lookups into a scan of every file (60 ms at 100,000 files).
        sdists = files.filter(
            packagetype=File.SDIST, release__project=project, release__canonical_version=upload.canonical_version
        )
        same = same.union(sdists)
    return list(same)


def _file_exists_message(filename: str) -> str:
    # twine --skip-existing recognises a 400 whose reason starts with "File already exists".
    return (
        f"File already exists ('{filename}', with different contents). A published file can "
        "never be replaced: bump the version, or upload with --skip-existing to ignore it."
    )


def _classify(
    incoming: IncomingFile, release: Release, matches: list[File], filename_burned: bool
) -> tuple[str, File | None]:
    """("new" | "unchanged" | "replace", the existing file), or an UploadError for a conflict."""
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


# --- the rows --------------------------------------------------------------------------


def _record(upload: _Upload, project: Project, release: Release, *, created: bool, replacing: File | None) -> File:
    """Write the release, the file, the journal (public releases only) and the audit."""
    if replacing is not None:
        replacing.delete()
    if created:
        release.save(force_insert=True)
    else:
        # The release describes its newest upload (most often, the files of a version
        # bring the same metadata: then there is nothing to write).
        if changed := _refresh_metadata(release, upload):
            release.save(update_fields=changed)
    stored = _file_row(upload, release)
    stored.save(force_insert=True)
    if not release.is_draft:
        BurnedFilename.objects.bulk_create([BurnedFilename(filename=stored.filename)], ignore_conflicts=True)
        actions = [JournalEntry.NEW_RELEASE] if created else []
        by = upload.principal.user.get_username()
        write_journal(project, version=release.version, actions=[*actions, add_file_action(stored)], by=by)
    audit_event(
        Actor.from_principal(upload.principal, AuditEvent.UPLOAD, upload.client_ip),
        "replace file" if replacing is not None else "upload file",
        project=project.name,
        version=release.version,
        filename=stored.filename,
        sha256=stored.sha256_digest,
        draft=release.is_draft,
    ).save(force_insert=True)
    return stored


def _refresh_metadata(release: Release, upload: _Upload) -> list[str]:
    """Set the upload's metadata on the release; return the fields that changed."""
    changed = [name for name, value in upload.metadata.items() if getattr(release, name) != value]
    for name in changed:
        setattr(release, name, upload.metadata[name])
    if release.uploader_id is None:
        release.uploader = upload.principal.user
        changed.append("uploader")
    return changed


def _file_row(upload: _Upload, release: Release) -> File:
    incoming = upload.incoming
    return File(
        release=release,
        filename=incoming.filename,
        packagetype=incoming.packagetype,
        python_version=incoming.python_version,
        requires_python=incoming.requires_python,
        size=incoming.size,
        sha256_digest=incoming.sha256,
        blake2_256_digest=incoming.blake2_256,
        md5_digest=incoming.md5,
        uploader=upload.principal.user,
        path=incoming.key,
        metadata=incoming.metadata,
        metadata_sha256=hashlib.sha256(incoming.metadata).hexdigest() if incoming.metadata is not None else None,
    )
