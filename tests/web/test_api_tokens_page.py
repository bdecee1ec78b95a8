"""The API tokens page: create (optionally scoped), shown once, listed with last use,
revoked after a confirmation."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from releases.accounts.authentication import authenticate_header
from releases.models import ApiToken, AuditEvent
from releases.services import create_api_token

pytestmark = pytest.mark.django_db

TOKENS = "/manage/tokens/"


def new_token_in(html: str) -> str:
    match = re.search(r'<code id="new-token">([^<]+)</code>', html)
    assert match, html
    return match.group(1)


def test_create_an_unscoped_token_shown_once(as_alice, alice):
    response = as_alice.post(TOKENS, {"description": "laptop", "project": ""})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    token = new_token_in(response.content.decode())
    stored = ApiToken.objects.get(user=alice)
    assert stored.project is None and stored.description == "laptop"
    assert token not in stored.digest and token.startswith(stored.prefix)
    # It works, and is never shown again.
    assert authenticate_header(f"Bearer {token}", allow_bearer=True).user == alice
    html = as_alice.get(TOKENS).content.decode()
    assert token not in html and stored.prefix in html and "laptop" in html
    assert AuditEvent.objects.get(action="create api token").channel == "web"


def test_create_a_token_scoped_to_an_owned_project(as_alice, alice, project):
    html = as_alice.post(TOKENS, {"description": "CI", "project": project.pk}).content.decode()
    new_token_in(html)
    assert ApiToken.objects.get(user=alice).project == project


def test_maintainer_cannot_scope_a_token_to_a_project_they_do_not_own(as_bob, bob, project):
    response = as_bob.post(TOKENS, {"description": "CI", "project": project.pk})
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=bob).exists()


def test_outsider_cannot_scope_to_someone_elses_project(as_charlie, charlie, project):
    assert as_charlie.post(TOKENS, {"project": project.pk}).status_code == 400
    assert not ApiToken.objects.exists()


def test_list_shows_last_use_and_scope(as_alice, alice, project):
    api_token, _ = create_api_token(user=alice, project=project, description="release job")
    ApiToken.objects.filter(pk=api_token.pk).update(last_used=datetime(2030, 1, 2, 3, 4, tzinfo=UTC))
    html = as_alice.get(TOKENS).content.decode()
    assert "release job" in html and "2030-01-02 03:04" in html and ">acme<" in html


def test_tokens_of_others_are_not_listed(as_charlie, alice):
    api_token, _ = create_api_token(user=alice, description="alice's")
    assert api_token.prefix not in as_charlie.get(TOKENS).content.decode()


def test_revoke_after_confirmation(as_alice, alice):
    api_token, _ = create_api_token(user=alice, description="old")
    path = f"/manage/tokens/{api_token.pk}/revoke/"
    assert "Revoke the API token" in as_alice.get(path).content.decode()
    assert ApiToken.objects.filter(pk=api_token.pk).exists()
    response = as_alice.post(path, follow=True)
    assert f"Revoked the API token {api_token.prefix}…" in [str(m) for m in response.context["messages"]]
    assert not ApiToken.objects.filter(pk=api_token.pk).exists()
    event = AuditEvent.objects.get(action="revoke api token")
    assert (event.channel, event.detail["token"]) == ("web", api_token.prefix)


def test_cannot_revoke_someone_elses_token(as_charlie, alice):
    api_token, _ = create_api_token(user=alice)
    assert as_charlie.post(f"/manage/tokens/{api_token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=api_token.pk).exists()


def test_owner_revokes_a_maintainers_project_token_from_settings(as_alice, bob, project):
    api_token, _ = create_api_token(user=bob, project=project, description="bob's CI")
    assert api_token.prefix in as_alice.get("/manage/projects/acme/settings/").content.decode()
    response = as_alice.post(f"/manage/tokens/{api_token.pk}/revoke/")
    assert response["Location"] == "/manage/projects/acme/settings/"
    assert not ApiToken.objects.filter(pk=api_token.pk).exists()


def test_maintainer_cannot_revoke_an_owners_project_token(as_bob, alice, project):
    api_token, _ = create_api_token(user=alice, project=project)
    assert as_bob.post(f"/manage/tokens/{api_token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=api_token.pk).exists()


def test_anonymous_cannot_create_tokens(client):
    assert client.post(TOKENS, {"description": "x"}).status_code == 302
    assert not ApiToken.objects.exists()
