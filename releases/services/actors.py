"""Who performs a state change, and through which door, for the audit log."""

from __future__ import annotations

import getpass
import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from releases.accounts.authentication import Principal
from releases.models import ApiToken, AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the audit log and the rate limit record it.

    REMOTE_ADDR, unless PYPIDRAFT_TRUSTED_PROXIES (N) reverse proxies stand in front: then
    the Nth address from the right of X-Forwarded-For, the one the outermost trusted proxy
    saw (each proxy appends its peer; what a client sends itself stays further left). A
    header with fewer addresses did not come through all of them: REMOTE_ADDR then.
    Anything that is not an IP address is None.
    """
    address = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.PYPIDRAFT_TRUSTED_PROXIES
    if proxies:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "")
        forwarded = [part.strip() for part in header.split(",") if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@dataclass(frozen=True)
class Actor:
    """A user (None for an operator's command), the channel, and the token they used."""

    user: Any
    channel: str
    client_ip: str | None = None
    token: ApiToken | None = None

    @classmethod
    def from_principal(cls, principal: Principal, channel: str, client_ip: str | None = None) -> Actor:
        return cls(user=principal.user, channel=channel, client_ip=client_ip, token=principal.token)

    @classmethod
    def for_request(cls, request: HttpRequest, channel: str, principal: Principal | None = None) -> Actor:
        """The signed-in user of a web or admin request, or the principal of an API call."""
        if principal is not None:
            return cls.from_principal(principal, channel, client_ip(request))
        return cls(user=request.user, channel=channel, client_ip=client_ip(request))

    @classmethod
    def command(cls) -> Actor:
        """An operator running manage.py."""
        return cls(user=None, channel=AuditEvent.COMMAND)

    @property
    def authenticated_user(self) -> Any:
        """The user, if signed in (None for anonymous requests and commands)."""
        return self.user if getattr(self.user, "is_authenticated", False) else None

    @property
    def name(self) -> str:
        """The name the audit log and the journal record."""
        user = self.authenticated_user
        if user is not None:
            return user.get_username()
        if self.channel == AuditEvent.COMMAND:
            # manage.py runs without a signed-in user; who acted is the operator's system account.
            try:
                return getpass.getuser()
            except (KeyError, OSError):
                return ""
        return ""
