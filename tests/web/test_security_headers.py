"""A strict Content-Security-Policy everywhere, no framing, HttpOnly (and, with HTTPS,
Secure) session cookies."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = [
    "/accounts/login/",
    "/project/acme/",
    "/manage/",
    "/manage/projects/acme/",
    "/manage/projects/acme/releases/2.0/publish/",
    "/manage/tokens/",
    "/admin/",
    "/admin/releases/release/",
    "/simple/acme/",
]


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy(as_staff, as_alice, draft, path):
    client = as_staff if path.startswith("/admin/") else as_alice
    response = client.get(path)
    assert response.status_code == 200, path
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["base-uri"] == "base-uri 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_errors_carry_the_policy_too(client):
    response = client.get("/project/nothing-here/")
    assert response.status_code == 404
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/project/acme/", "/manage/projects/acme/"])
def test_our_pages_have_no_inline_script_or_style(as_alice, draft, path):
    html = as_alice.get(path).content.decode()
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onclick=" not in html


def test_session_cookie_is_httponly(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.parametrize(("https", "secure"), [("1", "True"), ("0", "False")])
def test_cookies_are_secure_exactly_when_https_is_on(https, secure):
    env = {
        **os.environ,
        "SECRET_KEY": "x" * 50,
        "PYPIDRAFT_HTTPS": https,
        "DJANGO_SETTINGS_MODULE": "pypidraft.settings",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [secure, secure, "True"]


@pytest.mark.parametrize("path", ["/legacy/", "/legacy/draft/"])
def test_uploads_take_the_short_way_and_still_carry_the_security_headers(client, path):
    """POST /legacy/ skips sessions, CSRF, auth and messages (releases.fastpath), not the
    security middlewares around it."""
    response = client.post(path, {":action": "file_upload"}, HTTP_AUTHORIZATION="Basic bm9ib2R5Om5vcGU=")
    assert response.status_code == 401
    assert directives(response["Content-Security-Policy"])["default-src"] == "default-src 'self'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(response.content))
    assert "Cookie" not in response.get("Vary", "")
    assert response.wsgi_request.resolver_match is None  # no URL resolving: the fast path answered
