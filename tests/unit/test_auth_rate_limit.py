"""Failed authentication is rate limited per client address and per account."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_account_is_limited_after_repeated_failures(uploader, alice, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        assert uploader.upload(password="wrong").status_code == 401
    response = uploader.upload(password="wrong")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in response.content.decode()
    # Even the right password waits for the window to pass: that is the point.
    assert uploader.upload().status_code == 429


def test_address_is_limited_across_accounts(uploader, alice, bob, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 4
    for user in ("alice", "bob", "nobody", "__token__"):
        assert uploader.upload(user=user, password="wrong").status_code == 401
    assert uploader.upload(user="bob").status_code == 429


def test_success_does_not_count(uploader, alice, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 2
    for _ in range(5):
        assert uploader.upload().status_code == 200


def test_window_expiry_lifts_the_limit(uploader, alice, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 1
    assert uploader.upload(password="wrong").status_code == 401
    assert uploader.upload().status_code == 429
    from datetime import timedelta

    from django.utils import timezone

    from releases.models import AuthFailure

    AuthFailure.objects.update(window_start=timezone.now() - timedelta(hours=1))
    assert uploader.upload().status_code == 200
