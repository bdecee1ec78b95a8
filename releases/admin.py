"""Django admin: staff moderate drafts (filter, publish, discard, rotate links) and read
everything else. Every change goes through the same services as the dashboard, with
channel "admin" in the audit log; the admin never saves a Release, File, journal or audit
row itself, so published content cannot change without its journal entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from releases import selectors, services
from releases.errors import NotFound, PermissionDenied, ReleaseStateError, UploadError
from releases.links import draft_index_url, preview_url
from releases.models import (
    ApiToken,
    AuditEvent,
    BurnedFilename,
    File,
    JournalEntry,
    Project,
    Release,
    Role,
    draft_expiry_cutoff,
)
from releases.names import validate_project_name
from releases.services import Actor, policy

admin.site.site_header = "pypidraft administration"
admin.site.site_title = "pypidraft admin"
admin.site.index_title = "Moderation"

# Shown as a message next to the objects they concern. Release.DoesNotExist: a concurrent
# discard won the race for the row lock. A PermissionDenied is never one of them: it is a
# 403 (see `_refusals_as_403`).
DOMAIN_ERRORS = (ReleaseStateError, NotFound, Release.DoesNotExist)


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_request(request, AuditEvent.ADMIN)


@contextmanager
def _refusals_as_403() -> Iterator[None]:
    """A refusal by policy (in a service) becomes Django's own PermissionDenied: the admin's 403."""
    try:
        yield
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(str(exc)) from exc


class ReadOnlyAdmin(admin.ModelAdmin):
    """Staff can look, never write: these rows are public record or an append-only log."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- projects and roles ------------------------------------------------------------------


class RoleFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        owners = 0
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            if form.cleaned_data.get("role") == Role.OWNER:
                owners += 1
        if owners == 0:
            raise forms.ValidationError("A project needs at least one owner.")


class RoleInline(admin.TabularInline):
    model = Role
    formset = RoleFormSet
    extra = 0
    fields = ("user", "role")
    autocomplete_fields = ("user",)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "auto_publish_releases")

    def clean_name(self):
        name = self.cleaned_data["name"]
        if self.instance.pk:
            return self.instance.name
        try:
            normalized = validate_project_name(name)
        except UploadError as exc:
            raise forms.ValidationError(exc.message) from None
        if Project.objects.filter(normalized_name=normalized).exists():
            raise forms.ValidationError(f"A project named '{normalized}' already exists.")
        return name


class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ("name", "normalized_name", "auto_publish_releases", "drafts", "published_releases", "created")
    list_filter = ("auto_publish_releases",)
    search_fields = ("name", "normalized_name")
    inlines = (RoleInline,)

    def get_queryset(self, request):
        return selectors.with_release_counts(super().get_queryset(request))

    @admin.display(description="Drafts", ordering="draft_count")
    def drafts(self, obj):
        return obj.draft_count

    @admin.display(description="Published releases", ordering="published_count")
    def published_releases(self, obj):
        return obj.published_count

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The name is in every journal entry and URL: it never changes after creation.
        return ("name", "normalized_name", "created", "last_serial")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "auto_publish_releases")
        return ("name", "normalized_name", "auto_publish_releases", "created", "last_serial")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and Release.objects.filter(project=obj).exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        with _refusals_as_403():
            self._save_project(request, obj, form, change)

    def _save_project(self, request, obj, form, change):
        actor = _actor(request)
        if not change:
            created = services.create_project(
                name=form.cleaned_data["name"],
                auto_publish_releases=form.cleaned_data["auto_publish_releases"],
                actor=actor,
            )
            obj.pk, obj.normalized_name, obj.created = created.pk, created.normalized_name, created.created
            obj._state.adding = False
            return
        # Never obj.save(): it would write back a stale last_serial over a concurrent publish.
        if "auto_publish_releases" in form.changed_data:
            services.set_auto_publish(project=obj, enabled=form.cleaned_data["auto_publish_releases"], actor=actor)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Role:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        with _refusals_as_403():
            self._save_roles(request, form.instance, formset)

    def _save_roles(self, request, project, formset):
        actor = _actor(request)
        try:
            # Additions and changes first, removals last: replacing the only owner works.
            for role in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
                previous = Role.objects.filter(pk=role.pk).first() if role.pk else None
                services.set_role(project=project, username=role.user.get_username(), role=role.role, actor=actor)
                if previous is not None and previous.user_id != role.user_id:
                    services.remove_role(project=project, role_id=previous.pk, actor=actor)
            for role in formset.deleted_objects:
                services.remove_role(project=project, role_id=role.pk, actor=actor)
        except DOMAIN_ERRORS as exc:
            messages.error(request, str(exc))

    def get_actions(self, request):
        # A bulk delete cannot check each project; a reserved (empty) project is deleted
        # from its own page, whose delete button exists only when it has no release.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        with _refusals_as_403():
            services.delete_empty_project(project=obj, actor=_actor(request))


# --- releases ------------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("draft", "Draft"), ("published", "Published"), ("expired", "Expired draft")]

    def queryset(self, request, queryset):
        if self.value() == "draft":
            return queryset.drafts()
        if self.value() == "published":
            return queryset.published()
        if self.value() == "expired":
            return queryset.drafts().filter(created__lte=draft_expiry_cutoff())
        return queryset


class FileInline(admin.TabularInline):
    model = File
    fields = ("filename", "packagetype", "python_version", "size", "sha256_digest", "upload_time", "uploader")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("project", "version", "status", "created", "published", "uploader", "file_count")
    list_display_links = ("version",)
    list_filter = (StatusFilter, "created")
    search_fields = ("project__name", "project__normalized_name", "version")
    list_select_related = ("project", "uploader")
    # Drafts first (published is NULL), then the newest published.
    ordering = (F("published").desc(nulls_first=True), "-created")
    actions = ("publish_selected", "discard_selected")
    inlines = (FileInline,)
    fieldsets = (
        (None, {"fields": ("project", "version", "status", "created", "published", "uploader", "draft_expires")}),
        (
            "Metadata of the newest upload",
            {
                "fields": (
                    "summary",
                    "requires_python",
                    "author",
                    "author_email",
                    "maintainer",
                    "maintainer_email",
                    "license",
                    "license_expression",
                    "keywords",
                    "home_page",
                    "download_url",
                    "project_urls",
                    "requires_dist",
                    "classifiers",
                    "description_content_type",
                    "description",
                )
            },
        ),
        ("Yanking", {"fields": ("yanked", "yanked_reason")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def get_queryset(self, request):
        return selectors.with_file_count(super().get_queryset(request))

    @admin.display(description="Status", ordering="published")
    def status(self, obj: Release) -> str:
        if not obj.is_draft:
            return "Published"
        return "Draft (expired)" if obj.is_expired else "Draft"

    @admin.display(description="Files", ordering="file_count")
    def file_count(self, obj: Release) -> int:
        return obj.file_count

    @admin.display(description="Draft expires")
    def draft_expires(self, obj: Release) -> str:
        return f"{obj.draft_expires:%Y-%m-%d %H:%M} UTC" if obj.is_draft else "—"

    # Releases come from uploads and change only through the services.
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_publish_permission(self, request, obj=None) -> bool:
        # The domain rule (active staff, through the admin) is policy's; the Django
        # permission is the admin's own grant to this staff account.
        return policy.acts_as_staff(_actor(request)) and request.user.has_perm("releases.change_release")

    # -- actions on the change list, with a confirmation page like delete_selected --

    @admin.action(description="Publish selected drafts", permissions=["publish"])
    def publish_selected(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            action="publish_selected",
            title="Publish these drafts?",
            act=lambda release: services.publish_release(release=release, actor=_actor(request)),
            done="Published {release}",
        )

    @admin.action(description="Discard selected drafts", permissions=["publish"])
    def discard_selected(self, request, queryset):
        return self._bulk(
            request,
            queryset,
            action="discard_selected",
            title="Discard these drafts?",
            act=lambda release: services.discard_draft(release=release, actor=_actor(request)),
            done="Discarded the draft {release}",
        )

    def _bulk(self, request, queryset, *, action, title, act, done):
        releases = list(queryset.select_related("project").order_by("project__normalized_name", "created"))
        drafts = [r for r in releases if r.is_draft]
        skipped = [r for r in releases if not r.is_draft]
        if request.POST.get("post") == "yes":
            for release in drafts:
                try:
                    with _refusals_as_403():
                        act(release)
                except DOMAIN_ERRORS as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                else:
                    self.message_user(request, done.format(release=release), messages.SUCCESS)
            for release in skipped:
                self.message_user(request, f"Skipped {release}: it is already published.", messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "action": action,
            "drafts": drafts,
            "skipped": skipped,
            "queryset": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, f"admin/releases/release/{action}_confirmation.html", context)

    # -- buttons on a release's change page --

    def get_urls(self):
        view = self.admin_site.admin_view
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        return [
            path("<path:object_id>/publish/", view(self.publish_view), name=f"{prefix}_publish"),
            path("<path:object_id>/discard/", view(self.discard_view), name=f"{prefix}_discard"),
            path("<path:object_id>/rotate/", view(self.rotate_view), name=f"{prefix}_rotate"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        release = self.get_object(request, object_id)
        if release is not None and release.is_draft:
            extra_context["draft"] = release
            extra_context["can_publish"] = self.has_publish_permission(request)
            # The links are capabilities (whoever holds one installs the draft): only for
            # staff who may act on the draft, never for those who may only view releases.
            if extra_context["can_publish"] and not release.is_expired:
                token = services.draft_token(release)
                extra_context["draft_index_url"] = draft_index_url(request, token)
                extra_context["preview_url"] = preview_url(request, release, token)
        return super().change_view(request, object_id, form_url, extra_context)

    def _single(self, request, object_id, *, action, act, done):
        if not self.has_publish_permission(request):
            raise DjangoPermissionDenied
        release = self.get_object(request, object_id)
        if release is None:
            raise Http404("No such release.")
        change_url = reverse("admin:releases_release_change", args=[release.pk])
        if request.method == "POST":
            try:
                with _refusals_as_403():
                    act(release)
            except DOMAIN_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(request, done.format(release=release), messages.SUCCESS)
            if action == "discard":
                return HttpResponseRedirect(reverse("admin:releases_release_changelist"))
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.capitalize()} {release}?",
            "release": release,
            "files": list(release.files.all()),
            "action": action,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/releases/release/confirm_single.html", context)

    def publish_view(self, request, object_id):
        return self._single(
            request,
            object_id,
            action="publish",
            act=lambda release: services.publish_release(release=release, actor=_actor(request)),
            done="Published {release}",
        )

    def discard_view(self, request, object_id):
        return self._single(
            request,
            object_id,
            action="discard",
            act=lambda release: services.discard_draft(release=release, actor=_actor(request)),
            done="Discarded the draft {release}",
        )

    def rotate_view(self, request, object_id):
        return self._single(
            request,
            object_id,
            action="rotate",
            act=lambda release: services.rotate_draft_token(release=release, actor=_actor(request)),
            done="New draft link for {release}; the old links no longer work",
        )


# --- files, journal, audit, tokens ----------------------------------------------------------


class FileAdmin(ReadOnlyAdmin):
    list_display = ("filename", "release", "status", "packagetype", "size", "upload_time", "uploader")
    list_filter = ("packagetype",)
    search_fields = ("filename", "sha256_digest", "blake2_256_digest", "release__project__normalized_name")
    list_select_related = ("release__project", "uploader")
    fields = (
        "release",
        "filename",
        "packagetype",
        "python_version",
        "requires_python",
        "size",
        "sha256_digest",
        "blake2_256_digest",
        "md5_digest",
        "metadata_sha256",
        "upload_time",
        "uploader",
        "path",
    )
    readonly_fields = fields

    @admin.display(description="Status")
    def status(self, obj: File) -> str:
        return "Draft" if obj.release.is_draft else "Published"


class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "version", "action", "submitted_date", "submitted_by")
    search_fields = ("name", "version", "action")
    readonly_fields = ("id", "name", "version", "action", "submitted_date", "submitted_by")


class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created",
        "actor_name",
        "channel",
        "action",
        "project_name",
        "version",
        "client_ip",
        "token_prefix",
    )
    list_filter = ("channel", "action")
    search_fields = ("actor_name", "project_name", "version", "action")
    readonly_fields = (
        "created",
        "actor",
        "actor_name",
        "channel",
        "action",
        "project_name",
        "version",
        "detail",
        "client_ip",
        "token_prefix",
    )


class ApiTokenAdmin(admin.ModelAdmin):
    """Only the prefix is ever shown: the secret was displayed once and is not stored."""

    list_display = ("prefix_display", "user", "project", "description", "created", "last_used")
    list_select_related = ("user", "project")
    search_fields = ("prefix", "user__username", "project__normalized_name", "description")
    fields = ("prefix_display", "user", "project", "description", "created", "last_used")
    readonly_fields = fields

    @admin.display(description="Token", ordering="prefix")
    def prefix_display(self, obj: ApiToken) -> str:
        return format_html("<code>{}…</code>", obj.prefix)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    # Deleting is revoking, through the service, audited as channel "admin".
    def delete_model(self, request, obj):
        with _refusals_as_403():
            services.revoke_api_token(api_token=obj, actor=_actor(request))

    def delete_queryset(self, request, queryset):
        for api_token in queryset:
            try:
                with _refusals_as_403():
                    services.revoke_api_token(api_token=api_token, actor=_actor(request))
            except NotFound:
                continue


class BurnedFilenameAdmin(ReadOnlyAdmin):
    list_display = ("filename", "created")
    search_fields = ("filename",)


admin.site.register(Project, ProjectAdmin)
admin.site.register(Release, ReleaseAdmin)
admin.site.register(File, FileAdmin)
admin.site.register(JournalEntry, JournalEntryAdmin)
admin.site.register(AuditEvent, AuditEventAdmin)
admin.site.register(ApiToken, ApiTokenAdmin)
admin.site.register(BurnedFilename, BurnedFilenameAdmin)
