"""API tokens: created (the secret shown once) and revoked."""

from __future__ import annotations

from django.db import transaction

from releases.accounts.tokens import new_api_token
from releases.errors import NotFound
from releases.models import ApiToken, AuditEvent, Project
from releases.services import policy
from releases.services.actors import Actor
from releases.services.audit import audit


def create_api_token(
    *, user, project: Project | None = None, description: str = "", actor: Actor | None = None
) -> tuple[ApiToken, str]:
    """Create an API token; the secret is returned once and never stored."""
    token, prefix, digest = new_api_token()
    with transaction.atomic():
        api_token = ApiToken.objects.create(
            user=user, project=project, description=description, prefix=prefix, digest=digest
        )
        audit(
            actor or Actor(user=user, channel=AuditEvent.COMMAND),
            "create api token",
            project=project.name if project else "",
            token=prefix,
        )
    return api_token, token


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
        policy.require_token_revocation(actor, locked)
        audit(
            actor,
            "revoke api token",
            project=locked.project.name if locked.project_id else "",
            token=locked.prefix,
            user=locked.user.get_username(),
        )
        locked.delete()
