"""Every permission decision, in one place.

Services call these before they change anything; views, the admin, the API and commands
only choose how a refusal looks (404 for what the caller may not know exists, else 403).
Each `require_*` raises PermissionDenied with a message a person can act on.

- Owners and maintainers upload, publish, discard and rotate draft links.
- Only owners manage roles, settings and the API tokens scoped to their project.
- An API token scoped to one project grants nothing on another.
- Staff act on any project, but only through Django admin; operators through manage.py.
"""

from __future__ import annotations

from releases.accounts.authentication import Principal
from releases.errors import PermissionDenied
from releases.models import ApiToken, AuditEvent, Project, Role
from releases.services.actors import Actor


def role_of(user, project: Project | None) -> str | None:
    """The user's role on the project (owner, maintainer) or None."""
    if project is None or not user or not user.is_authenticated:
        return None
    return Role.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def acts_as_staff(actor: Actor) -> bool:
    """Operators (manage.py) and active staff signed in to Django admin act on any project."""
    if actor.channel == AuditEvent.COMMAND:
        return True
    user = actor.user
    return (
        actor.channel == AuditEvent.ADMIN
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
    )


def token_allows(token: ApiToken | None, project: Project) -> bool:
    """A token scoped to another project grants nothing on this one."""
    return token is None or token.project_id is None or token.project_id == project.pk


def project_role(actor: Actor, project: Project) -> str | None:
    """The actor's role on the project through the credential they used (None out of scope)."""
    if not token_allows(actor.token, project):
        return None
    return role_of(actor.user, project)


def require_upload(principal: Principal, project: Project, role: str | None, *, as_named: str) -> None:
    """The principal (whose role on the project is `role`) may upload to it.

    The refusal names the project as the upload named it (`as_named`), never by its
    stored display name: a project with only drafts is hidden from outsiders."""
    if not token_allows(principal.token, project):
        raise PermissionDenied(f"This API token is scoped to another project and cannot upload to '{as_named}'.")
    if role is None:
        raise PermissionDenied(
            f"The user '{principal.user.get_username()}' isn't allowed to upload to project "
            f"'{as_named}'. Ask an owner of the project to add you as a maintainer."
        )


def require_project_creation(principal: Principal) -> None:
    """A new project is created by an upload, never with a token scoped to another one."""
    if principal.token is not None and principal.token.project_id is not None:
        raise PermissionDenied("This API token is scoped to one project and cannot create a new project.")


def require_maintainer(actor: Actor, project: Project, what: str) -> None:
    """Owners and maintainers (and staff, operators) may `what` (publish, discard, …)."""
    if acts_as_staff(actor) or project_role(actor, project) is not None:
        return
    raise PermissionDenied(f"Only owners and maintainers of {project.name} can {what}.")


def require_owner(actor: Actor, project: Project, what: str) -> None:
    if acts_as_staff(actor) or project_role(actor, project) == Role.OWNER:
        return
    raise PermissionDenied(f"Only owners of {project.name} can {what}.")


def require_staff(actor: Actor, message: str) -> None:
    if not acts_as_staff(actor):
        raise PermissionDenied(message)


def can_revoke_api_token(user, api_token: ApiToken) -> bool:
    """A token's own user may revoke it, and so may the owners of the project it is scoped to."""
    if not getattr(user, "is_authenticated", False):
        return False
    if api_token.user_id == user.pk:
        return True
    return api_token.project_id is not None and role_of(user, api_token.project) == Role.OWNER


def require_token_revocation(actor: Actor, api_token: ApiToken) -> None:
    if not (acts_as_staff(actor) or can_revoke_api_token(actor.user, api_token)):
        raise PermissionDenied("Only the token's owner, or an owner of its project, can revoke it.")
