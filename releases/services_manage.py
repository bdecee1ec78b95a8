"""State changes of the maintainer dashboard and Django admin that services.py lacks.

Roles (never leaving a project without an owner), revoking API tokens, and projects
created, changed or deleted by staff in Django admin. Same shape as `releases.services`: one function per change, a
transaction, the rows re-read with `select_for_update()`, the audit log, and a domain
error when the state or the actor's rights do not allow the change.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from releases.auth import role_of
from releases.distributions import validate_project_name
from releases.errors import NotFound, PermissionDenied, ReleaseStateError, UploadError
from releases.models import ApiToken, Project, Release, Role
from releases.services import Actor, _audit, acts_as_staff

ROLE_NAMES = {Role.OWNER, Role.MAINTAINER}


class RoleError(ReleaseStateError):
    """A role change that would break an invariant (e.g. remove the last owner)."""


def _require_owner(actor: Actor, project: Project, what: str) -> None:
    if acts_as_staff(actor):
        return
    if role_of(actor.user, project) != Role.OWNER:
        raise PermissionDenied(f"Only owners of {project.name} can {what}.")


def _lock_project(project: Project) -> Project:
    # Every role change of a project locks its row first, so two concurrent removals can
    # never both see "another owner remains" and leave the project without one.
    return Project.objects.select_for_update().get(pk=project.pk)


def _owners_left(project: Project, *, without_user_id: int) -> int:
    return Role.objects.filter(project=project, role=Role.OWNER).exclude(user_id=without_user_id).count()


def set_role(*, project: Project, username: str, role: str, actor: Actor) -> tuple[Role, bool]:
    """Give `username` the role `role` on `project` (add it, or change their role).

    Returns (role, created). Demoting the last owner raises RoleError.
    """
    if role not in ROLE_NAMES:
        raise RoleError(f"Unknown role {role!r}: choose owner or maintainer.")
    with transaction.atomic():
        locked = _lock_project(project)
        # Checked under the lock: a concurrent removal of the actor's own role wins.
        _require_owner(actor, locked, "manage roles")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise NotFound(f"There is no active user named '{username}'.")
        existing = Role.objects.select_for_update().filter(project=locked, user=user).first()
        if existing is None:
            created = Role.objects.create(project=locked, user=user, role=role)
            _audit(actor, "add role", project=locked.name, user=user.get_username(), role=role)
            return created, True
        if existing.role == role:
            return existing, False
        if existing.role == Role.OWNER and not _owners_left(locked, without_user_id=user.pk):
            raise RoleError(
                f"{user.get_username()} is the last owner of {locked.name}: add another owner before changing their role."
            )
        previous = existing.role
        existing.role = role
        existing.save(update_fields=["role"])
        _audit(actor, "change role", project=locked.name, user=user.get_username(), role=role, previous=previous)
        return existing, False


def remove_role(*, project: Project, role_id: int, actor: Actor) -> Role:
    """Remove one role from a project; never its last owner. Returns the removed role."""
    with transaction.atomic():
        locked = _lock_project(project)
        _require_owner(actor, locked, "manage roles")
        role = (
            Role.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=role_id, project=locked)
            .first()
        )
        if role is None:
            raise NotFound(f"That person has no role on {locked.name} (any more).")
        if role.role == Role.OWNER and not _owners_left(locked, without_user_id=role.user_id):
            raise RoleError(
                f"{role.user.get_username()} is the last owner of {locked.name} and cannot be removed: "
                "add another owner first."
            )
        role.delete()
        _audit(actor, "remove role", project=locked.name, user=role.user.get_username(), role=role.role)
    return role


def can_revoke_api_token(user, api_token: ApiToken) -> bool:
    """A token's own user may revoke it, and so may the owners of the project it is scoped to."""
    if not getattr(user, "is_authenticated", False):
        return False
    if api_token.user_id == user.pk:
        return True
    return api_token.project_id is not None and role_of(user, api_token.project) == Role.OWNER


def revoke_api_token(*, api_token: ApiToken, actor: Actor) -> None:
    """Delete an API token; uploads and API calls with it fail from now on."""
    with transaction.atomic():
        locked = (
            ApiToken.objects.select_for_update(of=("self",))
            .select_related("user", "project")
            .filter(pk=api_token.pk)
            .first()
        )
        if locked is None:
            raise NotFound("This API token was already revoked.")
        if not (acts_as_staff(actor) or can_revoke_api_token(actor.user, locked)):
            raise PermissionDenied("Only the token's owner, or an owner of its project, can revoke it.")
        _audit(
            actor,
            "revoke api token",
            project=locked.project.name if locked.project_id else "",
            token=locked.prefix,
            user=locked.user.get_username(),
        )
        locked.delete()


def create_project(*, name: str, auto_publish_releases: bool, actor: Actor) -> Project:
    """Reserve a project name from Django admin (staff); roles are added with `set_role`."""
    if not acts_as_staff(actor):
        raise PermissionDenied("Only staff can create an empty project; an upload creates one for its owner.")
    try:
        normalized = validate_project_name(name)
    except UploadError as exc:
        raise ReleaseStateError(exc.message) from None
    with transaction.atomic():
        if Project.objects.filter(normalized_name=normalized).exists():
            raise ReleaseStateError(f"A project named '{normalized}' already exists.")
        project = Project.objects.create(
            name=name, normalized_name=normalized, auto_publish_releases=auto_publish_releases
        )
        _audit(actor, "create project", project=project.name, auto_publish_releases=auto_publish_releases)
    return project


def delete_empty_project(*, project: Project, actor: Actor) -> None:
    """Delete a project that has no release at all (a reserved name), from Django admin.

    A project with releases is never deleted here: published releases are public record,
    and drafts are discarded through `services.discard_draft` (which removes their files).
    """
    if not acts_as_staff(actor):
        raise PermissionDenied("Only staff can delete a project.")
    with transaction.atomic():
        locked = Project.objects.select_for_update().filter(pk=project.pk).first()
        if locked is None:
            return
        if Release.objects.filter(project=locked).exists():
            raise ReleaseStateError(f"{locked.name} has releases and cannot be deleted.")
        _audit(actor, "delete project", project=locked.name)
        locked.delete()
