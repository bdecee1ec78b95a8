"""The maintainer dashboard: projects, releases with drafts on top, publish, discard,
rotate, project settings, roles and API tokens.

Thin edges: each view finds what the signed-in user may see (a project they hold no role
on is a 404, never a hint that it exists), calls one service, and turns domain errors into
a message. State changes happen only in POSTs (CSRF-protected) after a confirmation page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from packaging.utils import canonicalize_name

from releases import selectors, services
from releases.dashboard.forms import ApiTokenForm, AutoPublishForm, RoleForm
from releases.errors import NotFound, PermissionDenied, ReleaseStateError
from releases.http import private
from releases.links import draft_index_url, preview_url
from releases.models import ApiToken, AuditEvent, Project, Release, Role
from releases.services import Actor, policy
from releases.views import release_context


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_request(request, AuditEvent.WEB)


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    # Dashboard pages show draft links and tokens, but their own URLs hold none: private,
    # with the site's same-origin referrer policy that the pages' CSRF-protected forms need.
    return private(render(request, template, context, status=status), token_in_url=False)


def _project_for(request: HttpRequest, project_name: str) -> tuple[Project, str]:
    """The project and the user's role on it; 404 when they hold none (even staff)."""
    project = Project.objects.for_user(request.user).filter(normalized_name=canonicalize_name(project_name)).first()
    role = policy.role_of(request.user, project) if project else None
    if project is None or role is None:
        raise Http404("No such project among yours.")
    return project, role


def _owned_project(request: HttpRequest, project_name: str, what: str) -> Project:
    """The project, if the user is one of its owners (PermissionDenied for its maintainers)."""
    project, _role = _project_for(request, project_name)
    policy.require_owner(_actor(request), project, what)
    return project


def _forbidden(request: HttpRequest, project: Project | None, message: str) -> HttpResponse:
    return _page(request, "dashboard/forbidden.html", {"project": project, "message": message}, status=403)


def _refusals_as_403(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A refusal by policy or by a service, whichever step raised it, is a 403 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            name = kwargs.get("project_name")
            projects = Project.objects.for_user(request.user)
            project = projects.filter(normalized_name=canonicalize_name(name)).first() if name else None
            return _forbidden(request, project, str(exc))

    return wrapper


def _release_for(project: Project, version: str) -> Release:
    """Any release of a project the user holds a role on: drafts included."""
    release = selectors.find_release(
        Release.objects.filter(project=project).select_related("project", "uploader"), version
    )
    if release is None:
        raise Http404("No such release.")
    return release


def _draft_links(request: HttpRequest, release: Release) -> dict[str, str | None]:
    """The draft's index and preview URLs, or None once it is published or expired."""
    if not release.is_draft or release.is_expired:
        return {"draft_index_url": None, "preview_url": None}
    token = services.draft_token(release)
    return {"draft_index_url": draft_index_url(request, token), "preview_url": preview_url(request, release, token)}


def _to_project(project: Project) -> HttpResponseRedirect:
    return redirect("dashboard:project", project_name=project.normalized_name)


# --- projects and releases -----------------------------------------------------------------


@require_safe
@login_required
def index(request: HttpRequest) -> HttpResponse:
    projects = selectors.with_release_counts(Project.objects.filter(roles__user=request.user)).order_by(
        "normalized_name"
    )
    roles = dict(Role.objects.filter(user=request.user).values_list("project_id", "role"))
    rows = [{"project": p, "role": roles.get(p.pk)} for p in projects]
    return _page(request, "dashboard/index.html", {"rows": rows})


@require_safe
@login_required
def project_detail(request: HttpRequest, project_name: str) -> HttpResponse:
    project, role = _project_for(request, project_name)
    if project.normalized_name != project_name:
        return redirect("dashboard:project", project_name=project.normalized_name)
    base = selectors.with_file_count(Release.objects.filter(project=project).select_related("uploader"))
    drafts = list(base.drafts().order_by("-created"))
    published = list(base.published().order_by("-published"))
    for release in drafts:
        release.links = _draft_links(request, release)
    context = {"project": project, "role": role, "drafts": drafts, "published": published}
    return _page(request, "dashboard/project.html", context)


@require_safe
@login_required
def release_detail(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    project, role = _project_for(request, project_name)
    release = _release_for(project, version)
    context = release_context(project, release, [])
    context.update(links=_draft_links(request, release), role=role, uploader=release.uploader)
    context["files"] = list(release.files.select_related("uploader"))
    return _page(request, "dashboard/release.html", context)


def _confirm_or_act(
    request: HttpRequest, project_name: str, version: str, *, action: str, act, done: str
) -> HttpResponse:
    """GET: a confirmation page naming the release. POST: the service, then a message."""
    project, role = _project_for(request, project_name)
    release = _release_for(project, version)
    if request.method == "POST":
        return _act(request, release, action=action, act=act, done=done)
    context = {
        "project": project,
        "release": release,
        "role": role,
        "files": list(release.files.all()),
        "action": action,
        "public_url": reverse("releases:release", args=[project.normalized_name, release.version]),
        "simple_url": reverse("simpleindex:project-detail", args=[project.normalized_name]),
        "already_public": Release.objects.published().filter(project=project).exists(),
    }
    return _page(request, f"dashboard/confirm_{action}.html", context)


def _act(request: HttpRequest, release: Release, *, action: str, act, done: str) -> HttpResponse:
    """Call the service; its refusals (PermissionDenied) reach the view's 403 page."""
    project = release.project
    try:
        act(release)
    except ReleaseStateError as exc:
        messages.error(request, str(exc))
        return _to_project(project)
    except Release.DoesNotExist:
        # Discarded by someone else between loading this page and the service's lock.
        messages.error(request, f"{project.name} {release.version} no longer exists; it was discarded.")
        return _to_project(project)
    messages.success(request, done.format(project=project.name, version=release.version))
    if action == "rotate":
        return redirect("dashboard:release", project_name=project.normalized_name, version=release.version)
    return _to_project(project)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def publish(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    return _confirm_or_act(
        request,
        project_name,
        version,
        action="publish",
        act=lambda release: services.publish_release(release=release, actor=_actor(request)),
        done="Published {project} {version}",
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def discard(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    return _confirm_or_act(
        request,
        project_name,
        version,
        action="discard",
        act=lambda release: services.discard_draft(release=release, actor=_actor(request)),
        done="Discarded the draft {project} {version}",
    )


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def rotate(request: HttpRequest, project_name: str, version: str) -> HttpResponse:
    return _confirm_or_act(
        request,
        project_name,
        version,
        action="rotate",
        act=lambda release: services.rotate_draft_token(release=release, actor=_actor(request)),
        done="New draft link for {project} {version}: the old preview and index URLs no longer work",
    )


# --- settings and roles (owners) ------------------------------------------------------------


def _settings_page(request: HttpRequest, project: Project, *, role_form=None, status: int = 200) -> HttpResponse:
    context = {
        "project": project,
        "role": Role.OWNER,
        "settings_form": AutoPublishForm(initial={"auto_publish_releases": project.auto_publish_releases}),
        "role_form": role_form or RoleForm(),
        "roles": Role.objects.filter(project=project).select_related("user").order_by("-role", "user__username"),
        "owner_count": Role.objects.filter(project=project, role=Role.OWNER).count(),
        "project_tokens": ApiToken.objects.filter(project=project).select_related("user"),
    }
    return _page(request, "dashboard/settings.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def project_settings(request: HttpRequest, project_name: str) -> HttpResponse:
    project = _owned_project(request, project_name, "change its settings and roles")
    if request.method == "POST":
        form = AutoPublishForm(request.POST)
        if form.is_valid():
            enabled = form.cleaned_data["auto_publish_releases"]
            services.set_auto_publish(project=project, enabled=enabled, actor=_actor(request))
            if enabled:
                messages.success(request, f"New releases of {project.name} are now published at once.")
            else:
                messages.success(request, f"New releases of {project.name} now start as drafts.")
        return redirect("dashboard:settings", project_name=project.normalized_name)
    return _settings_page(request, project)


@require_POST
@login_required
@_refusals_as_403
def add_role(request: HttpRequest, project_name: str) -> HttpResponse:
    project = _owned_project(request, project_name, "change its roles")
    form = RoleForm(request.POST)
    if form.is_valid():
        username, new_role = form.cleaned_data["username"].strip(), form.cleaned_data["role"]
        try:
            _, created = services.set_role(project=project, username=username, role=new_role, actor=_actor(request))
        except NotFound as exc:
            form.add_error("username", str(exc))
        except services.RoleError as exc:
            form.add_error(None, str(exc))
        else:
            title = "an owner" if new_role == Role.OWNER else "a maintainer"
            verb = "added as" if created else "is now"
            messages.success(request, f"{username} {verb} {title} of {project.name}")
            return redirect("dashboard:settings", project_name=project.normalized_name)
    return _settings_page(request, project, role_form=form, status=400)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def remove_role(request: HttpRequest, project_name: str, role_id: int) -> HttpResponse:
    project = _owned_project(request, project_name, "change its roles")
    target = Role.objects.filter(pk=role_id, project=project).select_related("user").first()
    if target is None:
        raise Http404("No such role.")
    if request.method == "POST":
        try:
            services.remove_role(project=project, role_id=target.pk, actor=_actor(request))
        except (services.RoleError, NotFound) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Removed {target.user.get_username()} ({target.role}) from {project.name}")
            if target.user_id == request.user.pk:
                return redirect("dashboard:index")
        return redirect("dashboard:settings", project_name=project.normalized_name)
    context = {"project": project, "target": target, "is_self": target.user_id == request.user.pk}
    return _page(request, "dashboard/confirm_remove_role.html", context)


# --- API tokens -----------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def tokens(request: HttpRequest) -> HttpResponse:
    new_token = None
    status = 200
    if request.method == "POST":
        form = ApiTokenForm(request.POST, user=request.user)
        if form.is_valid():
            _, new_token = services.create_api_token(
                user=request.user,
                project=form.cleaned_data["project"],
                description=form.cleaned_data["description"],
                actor=_actor(request),
            )
            form = ApiTokenForm(user=request.user)
        else:
            status = 400
    else:
        form = ApiTokenForm(user=request.user)
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": ApiToken.objects.filter(user=request.user).select_related("project"),
        "upload_url": request.build_absolute_uri(reverse("releases:upload")),
        "draft_upload_url": request.build_absolute_uri(reverse("releases:upload-draft")),
    }
    return _page(request, "dashboard/tokens.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@_refusals_as_403
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    api_token = ApiToken.objects.select_related("user", "project").filter(pk=token_id).first()
    if api_token is None or not policy.can_revoke_api_token(request.user, api_token):
        raise Http404("No such API token.")
    back = (
        reverse("dashboard:tokens")
        if api_token.user_id == request.user.pk
        else reverse("dashboard:settings", args=[api_token.project.normalized_name])
    )
    if request.method == "POST":
        try:
            services.revoke_api_token(api_token=api_token, actor=_actor(request))
        except NotFound as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Revoked the API token {api_token.prefix}…")
        return HttpResponseRedirect(back)
    return _page(request, "dashboard/confirm_revoke_token.html", {"api_token": api_token, "back": back})
