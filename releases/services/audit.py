"""The audit log's one writer: who did what, when, through which channel."""

from __future__ import annotations

from typing import Any

from releases.models import AuditEvent
from releases.services.actors import Actor


def audit_event(actor: Actor, action: str, *, project: str = "", version: str = "", **detail: Any) -> AuditEvent:
    """An unsaved audit event (the caller saves it inside its transaction)."""
    return AuditEvent(
        actor=actor.authenticated_user,
        actor_name=actor.name,
        channel=actor.channel,
        action=action,
        project_name=project,
        version=version,
        detail=detail,
        client_ip=actor.client_ip,
        token_prefix=actor.token.prefix if actor.token else "",
    )


def audit(actor: Actor, action: str, *, project: str = "", version: str = "", **detail: Any) -> AuditEvent:
    """Record an audit event now, in the caller's transaction."""
    event = audit_event(actor, action, project=project, version=version, **detail)
    event.save(force_insert=True)
    return event
