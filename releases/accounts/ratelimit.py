"""Rate limit failed authentication per client, per account, and per (account, client).

Counters live in the database so every worker and app server shares them. Fixed windows
of PYPIDRAFT_AUTH_FAILURE_WINDOW_SECONDS keep it to one upsert per counter and failure and
one read per check. The client is `releases.services.actors.client_ip`: REMOTE_ADDR, or
the address PYPIDRAFT_TRUSTED_PROXIES reverse proxies saw, never a header a client chose.

Each failure counts for its client (`ip:`, PYPIDRAFT_AUTH_FAILURES_PER_IP) and, for a
username, for the account (`user:`) and the account from this client (`pair:`), both
PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT. The rule limits the failing key, never someone
else's valid credential:

- API tokens carry 256 random bits and cannot be guessed: the token is checked first and
  a valid one always works, without reading any counter. An invalid token (or a header
  that is not valid credentials) answers 429 once its client is over the limit, else it is
  counted and answers 401.
- Passwords can be guessed, so the limit is checked before the password is: a login is
  refused (429) when its client is over the per-client limit, when the account from this
  client is over the per-account limit, or when the account as a whole is over the
  per-account limit *and* this client has failed on that account in the window. Someone
  who never failed on an account can still sign in to it while others attack it; a
  distributed attacker gets at most one guess per address once the account is over.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from releases.models import AuthFailure


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(
            f"Too many failed authentication attempts: try again in {retry_after} seconds, "
            "and check the username, password or token you use."
        )
        self.retry_after = retry_after


def _account(username: str | None) -> str | None:
    # A name with a NUL byte matches no account (authentication refuses it), and
    # PostgreSQL text cannot hold one: such attempts count for the client only.
    if not username or username == "__token__" or "\x00" in username:
        return None
    return username.lower()[:140]


def _keys(client_ip: str | None, username: str | None) -> dict[str, str]:
    """The counters of an attempt by role: "ip", "user" and "pair" (when known)."""
    keys = {}
    if client_ip:
        keys["ip"] = f"ip:{client_ip}"
    account = _account(username)
    if account is not None:
        keys["user"] = f"user:{account}"
        if client_ip:
            keys["pair"] = f"pair:{client_ip}:{account}"
    return keys


def _window() -> timedelta:
    return timedelta(seconds=settings.PYPIDRAFT_AUTH_FAILURE_WINDOW_SECONDS)


def _live(keys: dict[str, str]) -> dict[str, AuthFailure]:
    """The counters (by role) whose window is still open."""
    if not keys:
        return {}
    roles = {key: role for role, key in keys.items()}
    found = AuthFailure.objects.filter(key__in=list(keys.values()), window_start__gt=timezone.now() - _window())
    return {roles[failure.key]: failure for failure in found}


def _retry_after(*failures: AuthFailure) -> int:
    """Seconds until the first of these windows closes."""
    end = min(failure.window_start for failure in failures) + _window()
    return max(int((end - timezone.now()).total_seconds()) + 1, 1)


def check_client(client_ip: str | None) -> None:
    """Raise RateLimited if the client used up its failures (for tokens and bad headers)."""
    ip = _live(_keys(client_ip, None)).get("ip")
    if ip is not None and ip.count >= settings.PYPIDRAFT_AUTH_FAILURES_PER_IP:
        raise RateLimited(_retry_after(ip))


def check_password(client_ip: str | None, username: str | None) -> None:
    """Raise RateLimited if this client may not try a password on this account now (the
    rule in the module docstring). One read."""
    live = _live(_keys(client_ip, username))
    ip, user, pair = live.get("ip"), live.get("user"), live.get("pair")
    per_account = settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT
    if ip is not None and ip.count >= settings.PYPIDRAFT_AUTH_FAILURES_PER_IP:
        raise RateLimited(_retry_after(ip))
    if pair is not None and pair.count >= per_account:
        raise RateLimited(_retry_after(pair))
    if user is not None and user.count >= per_account:
        if pair is not None and pair.count > 0:
            raise RateLimited(_retry_after(user, pair))
        if not client_ip:
            # No client to tell apart (no address known): the account's counter decides.
            raise RateLimited(_retry_after(user))


def record_failure(client_ip: str | None, username: str | None) -> None:
    now = timezone.now()
    for key in _keys(client_ip, username).values():
        updated = AuthFailure.objects.filter(key=key, window_start__gt=now - _window()).update(count=F("count") + 1)
        if updated:
            continue
        try:
            with transaction.atomic():
                AuthFailure.objects.update_or_create(key=key, defaults={"window_start": now, "count": 1})
        except IntegrityError:
            # A concurrent failure opened the window first.
            AuthFailure.objects.filter(key=key).update(count=F("count") + 1)
