"""Credentials (HTTP Basic with a password or `__token__`, Bearer tokens) and rights."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from releases.accounts import ratelimit
from releases.accounts.tokens import api_token_digest
from releases.models import ApiToken


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

    Failures are counted (releases/accounts/ratelimit.py has the rule). A password is
    checked against the limit first and raises RateLimited (HTTP 429) past it, before the
    password hasher runs. A token is checked first: a valid one always works and reads no
    counter; an invalid one (or a malformed header) raises RateLimited once its client is
    over the limit, else it is counted.
    """
    username = _claimed_username(header)
    is_password = username is not None and username != "__token__"
    if is_password:
        ratelimit.check_password(client_ip, username)
    try:
        return _authenticate_header(header, allow_bearer=allow_bearer)
    except AuthenticationFailed:
        if header:
            if not is_password:
                ratelimit.check_client(client_ip)
            ratelimit.record_failure(client_ip, username)
        raise


def _claimed_username(header: str | None) -> str | None:
    try:
        credentials = _credentials_from_header(header or "", allow_bearer=True)
    except AuthenticationFailed:
        return None
    return credentials[0] if credentials else None


def _plausible_token(token: str) -> bool:
    return bool(token) and len(token) <= 256


def _authenticate_header(header: str | None, *, allow_bearer: bool) -> Principal:
    if not header:
        raise AuthenticationFailed(
            "Authentication required: use your username and password, or '__token__' and an API token."
        )
    credentials = _credentials_from_header(header, allow_bearer=allow_bearer)
    if credentials is None:
        raise AuthenticationFailed("Unsupported authorization scheme: use HTTP Basic (or Bearer for the API).")
    username, secret = credentials
    if username == "__token__":
        return _authenticate_token(secret)
    if len(username) > 150 or len(secret) > 1024 or "\x00" in username + secret:
        raise AuthenticationFailed("Invalid username or password.")
    user = authenticate(username=username, password=secret)
    if user is None or not user.is_active:
        raise AuthenticationFailed("Invalid username or password.")
    return Principal(user=user)


# What a request needs of its token and its user; the rest stays deferred.
TOKEN_FIELDS = ("id", "user", "project", "prefix", "last_used", "user__id", "user__username", "user__is_active")


def _authenticate_token(token: str) -> Principal:
    if not _plausible_token(token):
        raise AuthenticationFailed("Invalid API token.")
    api_token = (
        ApiToken.objects.select_related("user").only(*TOKEN_FIELDS).filter(digest=api_token_digest(token)).first()
    )
    if api_token is None or not api_token.user.is_active:
        raise AuthenticationFailed("Invalid or revoked API token: create a new one on the API tokens page.")
    now = timezone.now()
    # One write per minute at most: uploads from a CI matrix must not serialise on this row.
    if api_token.last_used is None or (now - api_token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used=now)
    return Principal(user=api_token.user, token=api_token)
