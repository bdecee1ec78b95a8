"""API token authentication for the maintainer API.

Only API tokens are accepted, as `Authorization: Bearer <token>` or HTTP Basic with the
username `__token__`. Passwords are refused before any password hasher runs: a CI secret
should be a revocable, project-scoped token, and the API must not become a fast oracle
for guessing passwords. There is no session authentication, so no request here ever acts
on a browser's cookies and CSRF cannot apply.
"""

from __future__ import annotations

import base64
import binascii

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from releases.accounts.authentication import AuthenticationFailed, Principal, authenticate_header
from releases.accounts.ratelimit import RateLimited
from releases.services.actors import client_ip

REALM = 'Basic realm="pypidraft"'
CREDENTIALS_HELP = (
    "The maintainer API accepts API tokens only: send 'Authorization: Bearer <token>' "
    "or HTTP Basic with the username '__token__' and the token as password."
)


def _is_password_login(header: str) -> bool:
    """True for HTTP Basic credentials whose username is not `__token__`."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False  # authenticate_header explains what is wrong with it
    username, sep, _ = decoded.partition(":")
    return bool(sep) and username != "__token__"


class ApiTokenAuthentication(BaseAuthentication):
    """Sets `request.user` to the token's user and `request.auth` to a `Principal`."""

    def authenticate(self, request) -> tuple[object, Principal] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.strip():
            return None  # anonymous: the permission check answers 401
        if _is_password_login(header):
            raise exceptions.AuthenticationFailed(CREDENTIALS_HELP)
        try:
            principal = authenticate_header(header, allow_bearer=True, client_ip=client_ip(request))
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        except RateLimited as exc:
            raise exceptions.Throttled(wait=exc.retry_after, detail=str(exc)) from None
        if principal.token is None:  # pragma: no cover - excluded by _is_password_login
            raise exceptions.AuthenticationFailed(CREDENTIALS_HELP)
        return principal.user, principal

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to anonymous and badly authenticated requests.
        return REALM


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "releases.api.authentication.ApiTokenAuthentication"
    name = ["apiToken", "apiTokenBasic"]

    def get_security_requirement(self, auto_schema):
        # Either scheme works: a list of alternatives, not both at once.
        return [{"apiToken": []}, {"apiTokenBasic": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (`pypd-…`) as `Authorization: Bearer <token>`.",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "HTTP Basic with the username `__token__` and an API token as password.",
            },
        ]
