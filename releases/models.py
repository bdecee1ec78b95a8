"""The domain: projects, releases (drafts and published), files, roles, tokens, journal.

A release whose `published` is NULL is a draft. Everything public starts from
`Release.objects.published()` / `Project.objects.public()`; drafts are reachable only
through their token or by the project's owners and maintainers.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

HEX64 = r"^[0-9a-f]{64}$"
HEX32 = r"^[0-9a-f]{32}$"


class ProjectQuerySet(models.QuerySet):
    def public(self) -> ProjectQuerySet:
        """Projects with at least one published release."""
        return self.filter(Exists(Release.objects.published().filter(project=OuterRef("pk"))))

    def for_user(self, user) -> ProjectQuerySet:
        """Projects on which `user` holds a role (owner or maintainer)."""
        if not user or not user.is_authenticated:
            return self.none()
        return self.filter(roles__user=user).distinct()


class Project(models.Model):
    name = models.CharField(max_length=200, help_text="Display name, as first uploaded.")
    normalized_name = models.CharField(max_length=200, unique=True)
    auto_publish_releases = models.BooleanField(
        default=True,
        help_text="When off, every new release of this project starts as a draft.",
    )
    created = models.DateTimeField(default=timezone.now)
    # Serial of the newest public journal entry of this project; NULL until the project
    # has had a public event. Validators (ETag, X-PyPI-Last-Serial) are built from it.
    last_serial = models.BigIntegerField(null=True, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["normalized_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(normalized_name__regex=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
                name="project_normalized_name_format",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    OWNER = "owner"
    MAINTAINER = "maintainer"
    CHOICES = [(OWNER, "Owner"), (MAINTAINER, "Maintainer")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_roles")
    role = models.CharField(max_length=20, choices=CHOICES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="role_unique_per_user"),
            models.CheckConstraint(condition=Q(role__in=["owner", "maintainer"]), name="role_known"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class ReleaseQuerySet(models.QuerySet):
    def published(self) -> ReleaseQuerySet:
        return self.filter(published__isnull=False)

    def drafts(self) -> ReleaseQuerySet:
        return self.filter(published__isnull=True)

    def live_drafts(self) -> ReleaseQuerySet:
        """Drafts whose token still resolves (not expired)."""
        return self.drafts().filter(created__gt=draft_expiry_cutoff())

    def expired_drafts(self) -> ReleaseQuerySet:
        return self.drafts().filter(created__lte=draft_expiry_cutoff())

    def for_draft_token(self, token: str) -> Release | None:
        """The live draft this token opens, or None (unknown, rotated, expired or published).

        Looked up by the token's hash, then confirmed with a constant-time comparison
        against the token derived from the draft's nonce.
        """
        from releases.accounts.tokens import constant_time_equal, draft_token_for, draft_token_hash

        if not token or len(token) > 128:
            return None
        release = self.live_drafts().select_related("project").filter(draft_token_hash=draft_token_hash(token)).first()
        if release is None or not constant_time_equal(draft_token_for(release.draft_nonce), token):
            return None
        return release

    def for_retired_token(self, token: str) -> Release | None:
        """The published release whose draft link this was, so old links can redirect."""
        from releases.accounts.tokens import draft_token_hash

        if not token or len(token) > 128:
            return None
        retired = (
            RetiredDraftToken.objects.select_related("release__project")
            .filter(token_hash=draft_token_hash(token))
            .first()
        )
        return retired.release if retired else None

    def visible_to(self, user) -> ReleaseQuerySet:
        """Published releases, plus drafts of projects on which `user` has a role."""
        if not user or not user.is_authenticated:
            return self.published()
        return self.filter(Q(published__isnull=False) | Q(project__roles__user=user)).distinct()


def draft_expiry_cutoff():
    return timezone.now() - timedelta(days=settings.PYPIDRAFT_DRAFT_TTL_DAYS)


class Release(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=100, help_text="As uploaded.")
    canonical_version = models.CharField(max_length=100)
    created = models.DateTimeField(default=timezone.now)
    # NULL means draft.
    published = models.DateTimeField(null=True, blank=True, db_index=True)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # While a draft: a random nonce from which the token is derived (HMAC under a key
    # derived from SECRET_KEY), and a SHA-256 of that token for lookup. The database
    # alone therefore never reveals a working URL. Both are NULL once published.
    draft_nonce = models.CharField(max_length=64, null=True, blank=True, editable=False)
    draft_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    yanked = models.BooleanField(default=False)
    yanked_reason = models.TextField(blank=True, default="")

    # Core metadata of the newest upload.
    metadata_version = models.CharField(max_length=10, blank=True, default="")
    summary = models.CharField(max_length=512, blank=True, default="")
    description = models.TextField(blank=True, default="")
    description_content_type = models.CharField(max_length=128, blank=True, default="")
    # The description rendered to sanitised HTML when it was uploaded (releases.rendering):
    # pages show this and never render, since rendering hostile text costs time.
    description_html = models.TextField(blank=True, default="", editable=False)
    author = models.TextField(blank=True, default="")
    author_email = models.TextField(blank=True, default="")
    maintainer = models.TextField(blank=True, default="")
    maintainer_email = models.TextField(blank=True, default="")
    license = models.TextField(blank=True, default="")
    license_expression = models.TextField(blank=True, default="")
    keywords = models.TextField(blank=True, default="")
    home_page = models.TextField(blank=True, default="")
    download_url = models.TextField(blank=True, default="")
    requires_python = models.CharField(max_length=256, blank=True, default="")
    requires_dist = models.JSONField(default=list, blank=True)
    provides_extra = models.JSONField(default=list, blank=True)
    classifiers = models.JSONField(default=list, blank=True)
    project_urls = models.JSONField(default=dict, blank=True)
    platform = models.JSONField(default=list, blank=True)

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["project", "canonical_version"], name="release_unique_version"),
            # A draft always has a token; a published release never has one.
            models.CheckConstraint(
                condition=(
                    Q(published__isnull=True, draft_nonce__isnull=False, draft_token_hash__isnull=False)
                    | Q(published__isnull=False, draft_nonce__isnull=True, draft_token_hash__isnull=True)
                ),
                name="release_draft_has_token",
            ),
        ]
        indexes = [models.Index(fields=["project", "published"], name="release_project_published")]

    def __str__(self) -> str:
        return f"{self.project.name} {self.version}"

    @property
    def is_draft(self) -> bool:
        return self.published is None

    @property
    def draft_expires(self):
        if not self.is_draft:
            return None
        return self.created + timedelta(days=settings.PYPIDRAFT_DRAFT_TTL_DAYS)

    @property
    def is_expired(self) -> bool:
        return self.is_draft and self.draft_expires <= timezone.now()


class RetiredDraftToken(models.Model):
    """The token hash a draft had when it was published, so old links redirect.

    It grants nothing: the URLs it matches only redirect to the now public pages.
    """

    token_hash = models.CharField(max_length=64, primary_key=True)
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"retired link of {self.release}"


class FileQuerySet(models.QuerySet):
    def published(self) -> FileQuerySet:
        return self.filter(release__published__isnull=False)

    def drafts(self) -> FileQuerySet:
        return self.filter(release__published__isnull=True)


class File(models.Model):
    SDIST = "sdist"
    WHEEL = "bdist_wheel"
    PACKAGE_TYPES = [(SDIST, "Source distribution"), (WHEEL, "Wheel")]

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=512, unique=True)
    packagetype = models.CharField(max_length=20, choices=PACKAGE_TYPES)
    python_version = models.CharField(max_length=100, help_text="Python tag, or 'source'.")
    requires_python = models.CharField(max_length=256, blank=True, default="")
    size = models.BigIntegerField()
    sha256_digest = models.CharField(max_length=64, unique=True)
    blake2_256_digest = models.CharField(max_length=64, unique=True)
    md5_digest = models.CharField(max_length=32)
    upload_time = models.DateTimeField(default=timezone.now)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Key in the "packages" storage: <b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>.
    path = models.CharField(max_length=700, unique=True)
    # The wheel's METADATA file, served as PEP 658 `<file>.metadata`; NULL for sdists.
    metadata = models.BinaryField(null=True, blank=True, editable=False)
    metadata_sha256 = models.CharField(max_length=64, null=True, blank=True)

    objects = FileQuerySet.as_manager()

    class Meta:
        ordering = ["filename"]
        constraints = [
            models.CheckConstraint(condition=Q(sha256_digest__regex=HEX64), name="file_sha256_format"),
            models.CheckConstraint(condition=Q(blake2_256_digest__regex=HEX64), name="file_blake2_format"),
            models.CheckConstraint(condition=Q(md5_digest__regex=HEX32), name="file_md5_format"),
            models.CheckConstraint(condition=Q(size__gte=0), name="file_size_positive"),
            models.CheckConstraint(condition=Q(packagetype__in=["sdist", "bdist_wheel"]), name="file_packagetype"),
            models.CheckConstraint(
                condition=Q(metadata__isnull=True, metadata_sha256__isnull=True)
                | Q(metadata__isnull=False, metadata_sha256__regex=HEX64),
                name="file_metadata_digest",
            ),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def has_metadata(self) -> bool:
        return self.metadata_sha256 is not None


class BurnedFilename(models.Model):
    """A filename that has been public once and can never be used again (like PyPI)."""

    filename = models.CharField(max_length=512, primary_key=True)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.filename


class JournalEntry(models.Model):
    """Append-only, serial-numbered log of public events that mirrors follow.

    The primary key is the serial. Draft activity never writes here; publishing a draft
    writes its events at publish time.
    """

    CREATE_PROJECT = "create"
    NEW_RELEASE = "new release"
    ADD_FILE = "add {packagetype} file {filename}"

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=100, null=True, blank=True)
    action = models.CharField(max_length=700)
    submitted_date = models.DateTimeField(default=timezone.now)
    submitted_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "journal entries"
        # A project's serial is its newest entry: MAX(id) for a name reads one index entry.
        indexes = [models.Index(fields=["name", "id"], name="journal_name_serial")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} {self.version or ''} {self.action}"


class ApiToken(models.Model):
    """An API token; the secret is shown once and only a keyed digest is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens")
    description = models.CharField(max_length=200, blank=True, default="")
    # First characters of the token, to recognise it in lists and logs.
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        scope = self.project.name if self.project_id else "all projects"
        return f"{self.prefix}… ({self.user}, {scope})"


class AuditEvent(models.Model):
    """Who did what, when, through which channel. Append-only."""

    WEB = "web"
    ADMIN = "admin"
    API = "api"
    COMMAND = "command"
    UPLOAD = "upload"
    CHANNELS = [(WEB, "Web"), (ADMIN, "Admin"), (API, "API"), (COMMAND, "Command"), (UPLOAD, "Upload")]

    created = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    channel = models.CharField(max_length=20, choices=CHANNELS)
    action = models.CharField(max_length=50)
    project_name = models.CharField(max_length=200, blank=True, default="")
    version = models.CharField(max_length=100, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    token_prefix = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.project_name} {self.version}"


class AuthFailure(models.Model):
    """Failed authentications in the current window, per client address and per account."""

    key = models.CharField(max_length=200, unique=True)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}: {self.count} since {self.window_start:%H:%M:%S}"
