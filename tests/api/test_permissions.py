"""Who may do what through the API, and that outsiders never learn a draft exists.

- anonymous or bad credentials: 401 with `WWW-Authenticate: Basic`;
- a user without a role, or a token scoped to another project: 404 for drafts and for
  projects that only have drafts, 403 for what is public;
- owners and maintainers: releases and their actions; owners only: project settings.
"""

from __future__ import annotations

import pytest

from releases.models import AuditEvent, Project, Release, Role
from releases.services import create_api_token
from tests.api.conftest import release_url, releases_url

pytestmark = pytest.mark.django_db

# (method, path, json body) for every endpoint, on the draft 2.0 and the published 1.0.
DRAFT_CALLS = [
    ("get", release_url("2.0"), None),
    ("delete", release_url("2.0"), None),
    ("post", release_url("2.0") + "publish/", None),
    ("post", release_url("2.0") + "rotate-token/", None),
]
PUBLISHED_CALLS = [
    ("get", release_url("1.0"), None),
    ("delete", release_url("1.0"), None),
    ("post", release_url("1.0") + "publish/", None),
    ("post", release_url("1.0") + "rotate-token/", None),
]
PROJECT_CALLS = [
    ("get", releases_url(), None),
    ("get", "/api/v1/projects/acme/", None),
    ("patch", "/api/v1/projects/acme/", {"auto_publish_releases": False}),
]
ALL_CALLS = DRAFT_CALLS + PUBLISHED_CALLS + PROJECT_CALLS


def call(api, method, path, body):
    if method in ("post", "patch"):
        return getattr(api, method)(path, body)
    return getattr(api, method)(path)


def assert_nothing_changed(draft: Release):
    draft.refresh_from_db()
    assert draft.is_draft
    assert Project.objects.get(normalized_name="acme").auto_publish_releases is True
    assert not AuditEvent.objects.filter(channel=AuditEvent.API).exists()


def test_anonymous_gets_401_with_basic_challenge(anonymous_api, draft, subtests):
    for method, path, body in ALL_CALLS:
        with subtests.test(method=method, path=path):
            response = call(anonymous_api, method, path, body)
            assert response.status_code == 401
            assert response["WWW-Authenticate"].startswith("Basic")
            assert response.json()["detail"].startswith("Authentication required. The maintainer API accepts")
    assert_nothing_changed(draft)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer pypd-not-a-real-token",
        "Basic X19fdG9rZW5fXzpub3BlLW5vcGU=",  # __token__:nope-nope
        "Basic !!!notbase64",
        "Token abc",
    ],
)
def test_bad_credentials_get_401(api_as, project, authorization):
    api = api_as(None)
    response = api.get(releases_url(), headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["detail"]


def test_password_is_refused_even_when_correct(api_as, draft):
    from tests.conftest import PASSWORD, basic

    response = api_as(None).get(releases_url(), headers={"Authorization": basic("alice", PASSWORD)})
    assert response.status_code == 401
    assert "API tokens only" in response.json()["detail"]


def test_basic_auth_with_token_username_works(api_as, draft, alice_token):
    from tests.conftest import basic

    response = api_as(None).get(releases_url(), headers={"Authorization": basic("__token__", alice_token)})
    assert response.status_code == 200


def test_a_browser_session_is_not_authentication(client, alice, draft):
    client.force_login(alice)
    response = client.get(releases_url())
    assert response.status_code == 401
    response = client.post(release_url("2.0") + "publish/")
    assert response.status_code == 401
    assert_nothing_changed(draft)


def test_a_token_of_an_inactive_user_is_refused(alice_api, alice, draft):
    alice.is_active = False
    alice.save()
    assert alice_api.get(releases_url()).status_code == 401


@pytest.mark.parametrize("who", ["charlie", "alice-scoped-to-widget"])
def test_outsiders_get_404_for_a_draft(api_as, charlie_token, alice_widget_token, draft, who, subtests):
    api = api_as(charlie_token if who == "charlie" else alice_widget_token)
    for method, path, body in DRAFT_CALLS:
        with subtests.test(method=method, path=path):
            response = call(api, method, path, body)
            assert response.status_code == 404
            # Exactly what a version that does not exist looks like.
            missing = call(api, method, path.replace("2.0", "7.7"), body)
            assert missing.status_code == 404
            assert response.json()["detail"] == missing.json()["detail"].replace("7.7", "2.0")
            assert "draft" not in response.json()["detail"].lower()
    assert_nothing_changed(draft)


@pytest.mark.parametrize("who", ["charlie", "alice-scoped-to-widget"])
def test_outsiders_get_403_for_what_is_public(api_as, charlie_token, alice_widget_token, draft, who, subtests):
    api = api_as(charlie_token if who == "charlie" else alice_widget_token)
    for method, path, body in PUBLISHED_CALLS + PROJECT_CALLS:
        with subtests.test(method=method, path=path):
            response = call(api, method, path, body)
            assert response.status_code == 403
            detail = response.json()["detail"]
            assert ("scoped" in detail) if who != "charlie" else ("no role" in detail)
            assert "2.0" not in detail
    assert_nothing_changed(draft)


def test_a_project_with_only_drafts_is_unknown_to_outsiders(api_as, charlie_token, project, uploader, subtests):
    assert uploader.upload("acme", "2.0", path="/legacy/draft/").status_code == 200
    api = api_as(charlie_token)
    for method, path, body in ALL_CALLS:
        with subtests.test(method=method, path=path):
            response = call(api, method, path, body)
            assert response.status_code == 404
            unknown = call(api, method, path.replace("/acme/", "/nonexistent/"), body)
            assert unknown.status_code == 404
            assert response.json()["detail"] == unknown.json()["detail"].replace("nonexistent", "acme")
    assert Release.objects.get(version="2.0").is_draft


def test_scoped_token_for_the_project_works(api_as, alice_acme_token, draft):
    api = api_as(alice_acme_token)
    assert api.get(releases_url()).status_code == 200
    assert api.post(release_url("2.0") + "publish/").status_code == 200


def test_unknown_project_is_404_for_everyone(alice_api):
    response = alice_api.get(releases_url("nope"))
    assert response.status_code == 404
    assert response.json() == {"detail": "No project named 'nope'."}


def test_project_settings_are_for_owners_only(bob_api, draft, subtests):
    for method, path, body in PROJECT_CALLS[1:]:
        with subtests.test(method=method, path=path):
            response = call(bob_api, method, path, body)
            assert response.status_code == 403
            assert "Only owners" in response.json()["detail"]
    assert_nothing_changed(draft)


def test_staff_without_a_role_has_no_api_rights(api_as, staff, draft):
    token = create_api_token(user=staff)[1]
    assert call(api_as(token), "post", release_url("2.0") + "publish/", None).status_code == 404
    assert call(api_as(token), "get", releases_url(), None).status_code == 403


def test_a_removed_maintainer_loses_access_at_once(bob_api, bob, draft):
    assert bob_api.get(release_url("2.0")).status_code == 200
    Role.objects.filter(user=bob).delete()
    assert bob_api.get(release_url("2.0")).status_code == 404
