"""State changes of projects: settings, roles (never leaving a project without an owner),
and projects created or deleted by staff in Django admin.

One function per change: a transaction, the rows re-read with `select_for_update()`, the
rights checked by releases.services.policy, the audit log, and a domain error when the
state or the actor's rights do not allow the change.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from releases.errors import NotFound, ReleaseStateError, UploadError
from releases.models import Project, Release, Role
from releases.names import validate_project_name
from releases.services import policy
from releases.services.actors import Actor
from releases.services.audit import audit

ROLE_NAMES = {Role.OWNER, Role.MAINTAINER}


class RoleError(ReleaseStateError):
    """A role change that would break an invariant (e.g. remove the last owner)."""


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
        policy.require_owner(actor, locked, "manage roles")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise NotFound(f"There is no active user named '{username}'.")
        existing = Role.objects.select_for_update().filter(project=locked, user=user).first()
        if existing is None:
            created = Role.objects.create(project=locked, user=user, role=role)
            audit(actor, "add role", project=locked.name, user=user.get_username(), role=role)
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
        audit(actor, "change role", project=locked.name, user=user.get_username(), role=role, previous=previous)
        return existing, False


def remove_role(*, project: Project, role_id: int, actor: Actor) -> Role:
    """Remove one role from a project; never its last owner. Returns the removed role."""
    with transaction.atomic():
        locked = _lock_project(project)
        policy.require_owner(actor, locked, "manage roles")
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
        audit(actor, "remove role", project=locked.name, user=role.user.get_username(), role=role.role)
    return role


def set_auto_publish(*, project: Project, enabled: bool, actor: Actor) -> Project:
    """Turn auto_publish_releases on or off (off: every new release starts as a draft)."""
    with transaction.atomic():
        locked = _lock_project(project)
        policy.require_owner(actor, locked, "change project settings")
        Project.objects.filter(pk=locked.pk).update(auto_publish_releases=enabled)
        audit(actor, "set auto_publish_releases", project=locked.name, enabled=enabled)
    project.auto_publish_releases = enabled
    return project


def create_project(*, name: str, auto_publish_releases: bool, actor: Actor) -> Project:
    """Reserve a project name from Django admin (staff); roles are added with `set_role`."""
    policy.require_staff(actor, "Only staff can create an empty project; an upload creates one for its owner.")
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
        audit(actor, "create project", project=project.name, auto_publish_releases=auto_publish_releases)
    return project


def delete_empty_project(*, project: Project, actor: Actor) -> None:
    """Delete a project that has no release at all (a reserved name), from Django admin.

    A project with releases is never deleted here: published releases are public record,
    and drafts are discarded through `services.discard_draft` (which removes their files).
    """
    policy.require_staff(actor, "Only staff can delete a project.")
    with transaction.atomic():
        locked = Project.objects.select_for_update().filter(pk=project.pk).first()
        if locked is None:
            return
        if Release.objects.filter(project=locked).exists():
            raise ReleaseStateError(f"{locked.name} has releases and cannot be deleted.")
        audit(actor, "delete project", project=locked.name)
        locked.delete()
