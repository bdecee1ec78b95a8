"""Secrets: API tokens and draft tokens.

Both carry 256 random bits, so a fast keyed digest (HMAC-SHA256) is the right way to store
them: a slow password hasher would add a third of a second to every upload, and the key
(derived from SECRET_KEY) means a leaked database alone does not let anyone test guesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

API_TOKEN_PREFIX = "pypd-"  # noqa: S105 - a prefix, not a secret


def _digest(purpose: str, value: str) -> str:
    return salted_hmac(f"pypidraft.{purpose}", value, algorithm="sha256").hexdigest()


def new_api_token() -> tuple[str, str, str]:
    """Return (token, prefix, digest). Only the digest and prefix are stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:12], api_token_digest(token)


def api_token_digest(token: str) -> str:
    return _digest("api-token", token)


def new_draft_nonce() -> str:
    return secrets.token_hex(32)


def draft_token_for(nonce: str) -> str:
    """The draft's URL token: an HMAC of its random nonce under a key from SECRET_KEY.

    Stable for a nonce (so the dashboard can show it again), unguessable without
    SECRET_KEY, and unrelated to the project name and version.
    """
    mac = hmac.new(_draft_key(), nonce.encode(), hashlib.sha256).digest()
    return _b32(mac)


def draft_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _draft_key() -> bytes:
    return hashlib.sha256(f"pypidraft.draft-token:{settings.SECRET_KEY}".encode()).digest()


def _b32(raw: bytes) -> str:
    # Lower-case base32 keeps the token URL-safe and easy to copy from a shell.
    return base64.b32encode(raw).decode().rstrip("=").lower()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
