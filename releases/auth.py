"""Credentials (HTTP Basic with a password or `__token__`, Bearer tokens) and rights."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from releases import hotpath, ratelimit
from releases.models import ApiToken, Project, Role
from releases.tokens import api_token_digest


class AuthenticationFailed(Exception):
    """Missing or invalid credentials: HTTP 401 with `WWW-Authenticate: Basic`."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user, and the API token they used (None for a password)."""

    user: AbstractBaseUser
    token: ApiToken | None = None

    @property
    def token_prefix(self) -> str:
        return self.token.prefix if self.token else ""

    def may_act_on(self, project: Project) -> bool:
        """A token scoped to another project grants nothing on this one."""
        return self.token is None or self.token.project_id is None or self.token.project_id == project.pk


def _credentials_from_header(header: str, *, allow_bearer: bool) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and allow_bearer and value:
        return "__token__", value
    if scheme != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AuthenticationFailed(
            "Invalid HTTP Basic credentials: the header is not valid base64 of 'user:password'."
        ) from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("Invalid HTTP Basic credentials: expected 'user:password'.")
    return username, password


def authenticate_header(header: str | None, *, allow_bearer: bool = False, client_ip: str | None = None) -> Principal:
    """Resolve an Authorization header to a Principal or raise AuthenticationFailed.

    Failures are counted per client address and per account; past the limit this raises
    RateLimited (HTTP 429) before even checking the credentials.
    """
    username = _claimed_username(header)
    # An API token is read with the rate limit's counters, in one round trip; the
    # counters are still checked first.
    token_digest = _claimed_token_digest(header, allow_bearer=allow_bearer)
    failures, token = hotpath.auth_lookup(
        ratelimit.counter_keys(client_ip, username), ratelimit.window_start(), token_digest
    )
    ratelimit.check(client_ip, username, failures)
    try:
        return _authenticate_header(header, allow_bearer=allow_bearer, token=token)
    except AuthenticationFailed:
        if header:
            ratelimit.record_failure(client_ip, username)
        raise


def _claimed_username(header: str | None) -> str | None:
    try:
        credentials = _credentials_from_header(header or "", allow_bearer=True)
    except AuthenticationFailed:
        return None
    return credentials[0] if credentials else None


def _claimed_token_digest(header: str | None, *, allow_bearer: bool) -> str | None:
    """The digest of the API token the header offers, if it offers a plausible one."""
    try:
        credentials = _credentials_from_header(header or "", allow_bearer=allow_bearer)
    except AuthenticationFailed:
        return None
    if credentials is None or credentials[0] != "__token__" or not _plausible_token(credentials[1]):
        return None
    return api_token_digest(credentials[1])


def _plausible_token(token: str) -> bool:
    return bool(token) and len(token) <= 256


def _authenticate_header(header: str | None, *, allow_bearer: bool, token: ApiToken | None) -> Principal:
    if not header:
        raise AuthenticationFailed(
            "Authentication required: use your username and password, or '__token__' and an API token."
        )
    credentials = _credentials_from_header(header, allow_bearer=allow_bearer)
    if credentials is None:
        raise AuthenticationFailed("Unsupported authorization scheme: use HTTP Basic (or Bearer for the API).")
    username, secret = credentials
    if username == "__token__":
        return _authenticate_token(secret, token)
    if len(username) > 150 or len(secret) > 1024 or "\x00" in username + secret:
        raise AuthenticationFailed("Invalid username or password.")
    user = authenticate(username=username, password=secret)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Invalid username or password.")
    return Principal(user=user)


def _authenticate_token(token: str, api_token: ApiToken | None) -> Principal:
    """`api_token`: the row found for this token's digest (see authenticate_header)."""
    if not _plausible_token(token):
        raise AuthenticationFailed("Invalid API token.")
    if api_token is None or not api_token.user.is_active:
        raise AuthenticationFailed("Invalid or revoked API token: create a new one on the API tokens page.")
    now = timezone.now()
    # One write per minute at most: uploads from a CI matrix must not serialise on this row.
    if api_token.last_used is None or (now - api_token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used=now)
    return Principal(user=api_token.user, token=api_token)


def role_of(user, project: Project) -> str | None:
    if not user or not user.is_authenticated:
        return None
    return Role.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def can_upload(principal: Principal, project: Project) -> bool:
    return principal.may_act_on(project) and role_of(principal.user, project) is not None
