"""Sign in, sign out and password change with Django's auth views and our templates."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_has_username_and_password_fields(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_signing_in_leads_to_the_dashboard(client, alice, project):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/manage/"
    assert "acme" in client.get("/manage/").content.decode()


def test_signing_in_follows_next(client, alice, project):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/manage/projects/acme/"}
    )
    assert response["Location"] == "/manage/projects/acme/"


def test_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "path",
    [
        "/manage/",
        "/manage/tokens/",
        "/manage/projects/acme/",
        "/manage/projects/acme/settings/",
        "/manage/projects/acme/releases/1.0/",
        "/manage/projects/acme/releases/1.0/publish/",
    ],
)
def test_every_manage_page_requires_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_sign_out_is_a_post_and_ends_the_session(as_alice):
    assert as_alice.get("/manage/").status_code == 200
    response = as_alice.post("/accounts/logout/", {"next": "/accounts/login/"})
    assert response.status_code == 302
    assert as_alice.get("/manage/").status_code == 302


def test_pages_offer_sign_out_as_a_form(as_alice):
    html = as_alice.get("/manage/").content.decode()
    assert 'action="/accounts/logout/"' in html and 'method="post"' in html


def test_password_change(as_alice, alice):
    assert as_alice.get("/accounts/password_change/").status_code == 200
    response = as_alice.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much better passphrase 42",
            "new_password2": "a much better passphrase 42",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert as_alice.get(response["Location"]).status_code == 200
    assert User.objects.get(pk=alice.pk).check_password("a much better passphrase 42")
    # The session that changed it stays signed in.
    assert as_alice.get("/manage/").status_code == 200


def test_password_change_with_a_wrong_old_password(as_alice, alice):
    response = as_alice.post(
        "/accounts/password_change/",
        {
            "old_password": "wrong",
            "new_password1": "a much better passphrase 42",
            "new_password2": "a much better passphrase 42",
        },
    )
    assert response.status_code == 200
    assert "incorrectly" in response.content.decode()
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)
