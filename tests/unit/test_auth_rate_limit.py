"""Failed authentication is rate limited per client address and per account."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext

from releases.models import AuditEvent, AuthFailure
from releases.services import create_api_token
from releases.services.actors import client_ip
from tests.conftest import PASSWORD, Uploader, basic

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


# --- round two (issue #14, item 4): sign-in pages, tokens, and the client behind proxies ---

LOGIN_PAGES = {"web": ("/accounts/login/", "alice"), "admin": ("/admin/login/", "staff")}


def sign_in(client: Client, path: str, username: str, password: str, **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


@pytest.fixture
def people(alice, staff):
    return {"alice": alice, "staff": staff}


@pytest.mark.parametrize("page", sorted(LOGIN_PAGES))
def test_sign_in_page_is_limited_after_repeated_failures(client, people, page):
    path, username = LOGIN_PAGES[page]
    for _ in range(15):
        response = sign_in(client, path, username, "wrong")
        assert response.status_code in (200, 429)
    response = sign_in(client, path, username, PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("page", sorted(LOGIN_PAGES))
def test_sign_in_page_counts_per_account_from_the_limit(client, people, page, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 3
    path, username = LOGIN_PAGES[page]
    statuses = [sign_in(client, path, username, "wrong").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_sign_in_under_attack_still_works_for_others(people, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 3
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(10):
        sign_in(attacker, "/accounts/login/", "alice", "wrong")
    assert sign_in(attacker, "/accounts/login/", "alice", PASSWORD).status_code == 429
    # A distributed attacker gets one guess per address once the account is over its limit...
    other = Client(REMOTE_ADDR="203.0.113.67")
    assert sign_in(other, "/accounts/login/", "alice", "wrong").status_code == 200
    assert sign_in(other, "/accounts/login/", "alice", PASSWORD).status_code == 429
    # ...and alice, who never failed, signs in from her own address.
    alice = Client(REMOTE_ADDR="198.51.100.7")
    assert sign_in(alice, "/accounts/login/", "alice", PASSWORD).status_code == 302
    assert (
        Client(REMOTE_ADDR="198.51.100.8")
        .post("/admin/login/", {"username": "staff", "password": PASSWORD})
        .status_code
        == 302
    )


def test_sign_in_is_limited_per_address_across_accounts(client, people, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 4
    for username in ("alice", "bob", "nobody", "staff"):
        assert sign_in(client, "/accounts/login/", username, "wrong").status_code == 200
    assert sign_in(client, "/admin/login/", "staff", PASSWORD).status_code == 429


def test_non_staff_on_the_admin_login_is_not_a_failure(client, alice, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 1
    for _ in range(3):
        assert sign_in(client, "/admin/login/", "alice", PASSWORD).status_code == 200
    assert not AuthFailure.objects.exists()


@pytest.fixture
def alice_token(alice, project) -> str:
    return create_api_token(user=alice)[1]


def test_bad_tokens_do_not_lock_out_a_valid_token(uploader, alice_token, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 100
    statuses = [uploader.upload(auth=basic("__token__", f"pypd-wrong-{n}")).status_code for n in range(110)]
    assert statuses[:100] == [401] * 100 and set(statuses[100:]) == {429}
    assert uploader.upload(auth=basic("__token__", alice_token)).status_code == 200
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {alice_token}"}
    assert uploader.client.get("/api/v1/projects/acme/releases/1.0/", **bearer).status_code == 200
    assert uploader.client.get("/api/v1/projects/acme/", HTTP_AUTHORIZATION="Bearer pypd-wrong").status_code == 429


def test_a_valid_token_reads_no_counters(uploader, alice_token):
    with CaptureQueriesContext(connection) as queries:
        assert uploader.upload(auth=basic("__token__", alice_token)).status_code == 200
    assert not [q["sql"] for q in queries if "authfailure" in q["sql"].lower()]


def test_password_attempts_still_read_the_counters(uploader, alice):
    with CaptureQueriesContext(connection) as queries:
        assert uploader.upload().status_code == 200
    assert [q["sql"] for q in queries if "authfailure" in q["sql"].lower()]


def forwarded(address: str, *, via: str = "10.0.0.1", spoofed: str = "") -> dict:
    chain = f"{spoofed}, {address}" if spoofed else address
    return {"REMOTE_ADDR": via, "HTTP_X_FORWARDED_FOR": chain}


@pytest.mark.parametrize(
    ("proxies", "meta", "expected"),
    [
        (0, forwarded("198.51.100.1"), "10.0.0.1"),  # no trusted proxy: the header is anyone's
        (1, forwarded("198.51.100.1"), "198.51.100.1"),
        (1, forwarded("198.51.100.1", spoofed="1.2.3.4"), "198.51.100.1"),
        (2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 198.51.100.1, 10.0.0.1"}, "198.51.100.1"),
        (2, forwarded("198.51.100.1"), "10.0.0.1"),  # did not come through both proxies
        (1, {"REMOTE_ADDR": "10.0.0.1"}, "10.0.0.1"),
        (1, {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-address"}, None),
        (1, forwarded("2001:DB8:0:0::1"), "2001:db8::1"),
        (0, {"REMOTE_ADDR": ""}, None),
    ],
)
def test_client_ip_trusts_only_configured_proxies(settings, proxies, meta, expected):
    settings.PYPIDRAFT_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/")
    request.META.pop("REMOTE_ADDR", None)
    request.META.update(meta)
    assert client_ip(request) == expected


def test_bad_tokens_behind_a_proxy_count_per_client(alice_token, settings):
    settings.PYPIDRAFT_TRUSTED_PROXIES = 1
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 5
    for n in range(20):  # many clients, one proxy: none of them reaches its own limit
        attacker = Uploader(Client(**forwarded(f"203.0.113.{n}")))
        assert attacker.upload(auth=basic("__token__", "pypd-wrong")).status_code == 401
    one = Uploader(Client(**forwarded("203.0.113.200")))
    assert {one.upload(auth=basic("__token__", "pypd-wrong")).status_code for _ in range(5)} == {401}
    assert one.upload(auth=basic("__token__", "pypd-wrong")).status_code == 429
    # A spoofed header from the limited client does not get it a fresh counter.
    spoofing = Uploader(Client(**forwarded("203.0.113.200", spoofed="192.0.2.9")))
    assert spoofing.upload(auth=basic("__token__", "pypd-wrong")).status_code == 429
    # The valid token works from behind the same proxy, and even from the limited client.
    assert spoofing.upload(auth=basic("__token__", alice_token)).status_code == 200
    assert AuditEvent.objects.get(channel=AuditEvent.UPLOAD).client_ip == "203.0.113.200"
    assert not AuthFailure.objects.filter(key__contains="10.0.0.1").exists()


def test_sign_in_behind_a_proxy_counts_per_client(people, settings):
    settings.PYPIDRAFT_TRUSTED_PROXIES = 1
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 3
    for n in range(10):
        assert sign_in(Client(**forwarded(f"203.0.113.{n}")), "/accounts/login/", f"user{n}", "x").status_code == 200
    response = sign_in(Client(**forwarded("198.51.100.7")), "/accounts/login/", "alice", PASSWORD)
    assert response.status_code == 302
    assert re.fullmatch(r"ip:203\.0\.113\.\d+", AuthFailure.objects.filter(key__startswith="ip:").first().key)
