"""Rate limit failed authentication per client address and per account.

Counters live in the database so every worker and app server shares them. Fixed windows
keep it to one upsert per failure and one read per attempt.
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


def _keys(client_ip: str | None, username: str | None) -> list[tuple[str, int]]:
    keys = []
    if client_ip:
        keys.append((f"ip:{client_ip}", settings.PYPIDRAFT_AUTH_FAILURES_PER_IP))
    # A name with a NUL byte matches no account (authentication refuses it), and
    # PostgreSQL text cannot hold one: such attempts count for the address only.
    if username and username != "__token__" and "\x00" not in username:
        keys.append((f"user:{username.lower()[:150]}", settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT))
    return keys


def _window() -> timedelta:
    return timedelta(seconds=settings.PYPIDRAFT_AUTH_FAILURE_WINDOW_SECONDS)


def live_counters(client_ip: str | None, username: str | None) -> list[AuthFailure]:
    """The counters of this address and account whose window is still open."""
    keys = [key for key, _limit in _keys(client_ip, username)]
    if not keys:
        return []
    return list(AuthFailure.objects.filter(key__in=keys, window_start__gt=timezone.now() - _window()))


def check(client_ip: str | None, username: str | None, failures: list[AuthFailure]) -> None:
    """Raise RateLimited if the address or the account used up its failures (`failures`:
    their live_counters)."""
    limits = dict(_keys(client_ip, username))
    now = timezone.now()
    for failure in failures:
        if failure.key in limits and failure.count >= limits[failure.key]:
            remaining = failure.window_start + _window() - now
            raise RateLimited(max(int(remaining.total_seconds()) + 1, 1))


def record_failure(client_ip: str | None, username: str | None) -> None:
    now = timezone.now()
    for key, _limit in _keys(client_ip, username):
        updated = AuthFailure.objects.filter(key=key, window_start__gt=now - _window()).update(count=F("count") + 1)
        if updated:
            continue
        try:
            with transaction.atomic():
                AuthFailure.objects.update_or_create(key=key, defaults={"window_start": now, "count": 1})
        except IntegrityError:
            # A concurrent failure opened the window first.
            AuthFailure.objects.filter(key=key).update(count=F("count") + 1)
