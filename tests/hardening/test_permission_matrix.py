"""The permission matrix: who may do what to a draft, as DESIGN.md says, in one table.

`acme` has a published 1.0 and a draft 2.0. alice owns it, bob maintains it, charlie has
no role, staff is a superuser with no role on it, and "other project's token" is alice's
own API token scoped to her other project `widget`: a scope limits even an owner.

Each role speaks the channel it would use: HTTP Basic for uploads (a password, or
`__token__` and the scoped token), `Authorization: Bearer` for the API, a signed-in
session with a CSRF token for the dashboard and Django admin. A token opens no session,
so for the dashboard and admin the scoped token counts as signed out. Owners and
maintainers upload, publish, discard and rotate; only owners change settings, roles and
the project's tokens; staff act through Django admin and have no special rights in the
dashboard or the API; the draft's token alone opens its preview and index, for anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from releases.models import ApiToken, File, Project, Release, Role
from releases.services import create_api_token, draft_token
from tests.conftest import PASSWORD, Uploader, basic
from tests.support.distributions import make_wheel, upload_fields
from tests.support.factories import give_role, make_draft, make_project, make_published

ROLES = ("anonymous", "no role", "other project's token", "maintainer", "owner", "staff")

# ok: allowed and done (views: 200 with the draft); 401/403/404/400: refused with that
# status and nothing changed; login / admin login: redirected to sign in, nothing changed.
# fmt: off
EXPECTED = {
    #  action                                anonymous      no role        other token    maintainer     owner          staff
    "see the preview with its token":      ("ok",          "ok",          "ok",          "ok",          "ok",          "ok"),
    "see the preview with a wrong token":  ("404",         "404",         "404",         "404",         "404",         "404"),
    "see the draft's public page":         ("404",         "404",         "404",         "404",         "404",         "404"),
    "see the draft's index with its token": ("ok",         "ok",          "ok",          "ok",          "ok",          "ok"),
    "see the draft in the JSON API":       ("404",         "404",         "404",         "404",         "404",         "404"),
    "see the draft in the maintainer API": ("401",         "404",         "404",         "ok",          "ok",          "404"),
    "see the draft in the dashboard":      ("login",       "404",         "login",       "ok",          "ok",          "404"),
    "upload to the draft":                 ("401",         "403",         "403",         "ok",          "ok",          "403"),
    "publish in the dashboard":            ("login",       "404",         "login",       "ok",          "ok",          "404"),
    "publish through the API":             ("401",         "404",         "404",         "ok",          "ok",          "404"),
    "publish in Django admin":             ("admin login", "admin login", "admin login", "admin login", "admin login", "ok"),
    "discard in the dashboard":            ("login",       "404",         "login",       "ok",          "ok",          "404"),
    "discard through the API":             ("401",         "404",         "404",         "ok",          "ok",          "404"),
    "discard in Django admin":             ("admin login", "admin login", "admin login", "admin login", "admin login", "ok"),
    "rotate the draft token in the dashboard": ("login",   "404",         "login",       "ok",          "ok",          "404"),
    "rotate the draft token through the API":  ("401",     "404",         "404",         "ok",          "ok",          "404"),
    "rotate the draft token in Django admin":  ("admin login", "admin login", "admin login", "admin login", "admin login", "ok"),
    "change settings in the dashboard":    ("login",       "404",         "login",       "403",         "ok",          "404"),
    "change settings through the API":     ("401",         "403",         "403",         "403",         "ok",          "403"),
    "add a maintainer":                    ("login",       "404",         "login",       "403",         "ok",          "404"),
    "remove a maintainer":                 ("login",       "404",         "login",       "403",         "ok",          "404"),
    "create a token scoped to the project": ("login",      "400",         "login",       "400",         "ok",          "400"),
    "revoke the project's token":          ("login",       "404",         "login",       "404",         "ok",          "404"),
}
# fmt: on


@dataclass
class World:
    project: Project
    draft: Release
    token: str  # the draft's
    users: dict[str, User | None]  # role -> user with a session (None: signed out)
    api_tokens: dict[str, str | None]  # role -> API token (None: no credentials)
    dora_role: Role  # a maintainer an owner may remove
    erin: User  # a user an owner may add
    acme_token: ApiToken  # alice's token scoped to acme, which only owners may revoke


@pytest.fixture
def world(project, alice, bob, charlie, staff) -> World:
    dora = User.objects.create_user("dora", "dora@example.org", PASSWORD)
    erin = User.objects.create_user("erin", "erin@example.org", PASSWORD)
    dora_role = give_role(project, dora)
    widget = make_project("widget", owner=alice)
    make_published(project, "1.0", by=alice)
    draft = make_draft(project, "2.0", by=alice)
    token = draft_token(draft)

    acme_token, _secret = create_api_token(user=alice, project=project, description="acme only")
    return World(
        project=project,
        draft=draft,
        token=token,
        users={
            "anonymous": None,
            "no role": charlie,
            "other project's token": None,
            "maintainer": bob,
            "owner": alice,
            "staff": staff,
        },
        api_tokens={
            "anonymous": None,
            "no role": create_api_token(user=charlie)[1],
            "other project's token": create_api_token(user=alice, project=widget)[1],
            "maintainer": create_api_token(user=bob)[1],
            "owner": create_api_token(user=alice)[1],
            "staff": create_api_token(user=staff)[1],
        },
        dora_role=dora_role,
        erin=erin,
        acme_token=acme_token,
    )


class Caller:
    """One role, speaking each channel the way it would."""

    def __init__(self, world: World, role: str):
        self.world, self.role = world, role
        self.user = world.users[role]
        self.api_token = world.api_tokens[role]
        self.client = Client(enforce_csrf_checks=True)
        if self.user is not None:
            self.client.force_login(self.user)
        # Any page with a form hands out the CSRF cookie, signed in or not.
        self.client.get("/accounts/login/")
        self.csrf = self.client.cookies["csrftoken"].value

    def headers(self) -> dict[str, str]:
        # The scoped token is sent everywhere; it must open nothing but what it is scoped to.
        return {"Authorization": f"Bearer {self.api_token}"} if self.role == "other project's token" else {}

    def get(self, path: str):
        return self.client.get(path, headers=self.headers())

    def post(self, path: str, data: dict | None = None):
        return self.client.post(path, {"csrfmiddlewaretoken": self.csrf, **(data or {})}, headers=self.headers())

    def api(self, method: str, path: str, data: str | None = None):
        headers = {"Authorization": f"Bearer {self.api_token}"} if self.api_token else {}
        return self.client.generic(method, path, data or "", content_type="application/json", headers=headers)

    def upload(self):
        filename, data = make_wheel("acme", "2.0", tag="py2.py3-none-any")
        if self.role == "anonymous":
            auth = ""  # no Authorization header at all
        elif self.role == "other project's token":
            auth = basic("__token__", self.api_token)
        else:
            auth = basic(self.user.get_username(), PASSWORD)
        fields = upload_fields("acme", "2.0", filename, data)
        return Uploader(self.client).post(fields, filename=filename, data=data, auth=auth)


def _release_path(world: World, action: str = "") -> str:
    return f"/manage/projects/acme/releases/2.0/{action}"


def _draft() -> Release | None:
    return Release.objects.filter(version="2.0").first()


# action -> (how the actor does it, what changes when it is done; None for views)
ACTIONS: dict[str, tuple[Callable[[Caller], object], Callable[[World], bool] | None]] = {
    "see the preview with its token": (lambda a: a.get(f"/project/acme/2.0--draft--{a.world.token}/"), None),
    "see the preview with a wrong token": (lambda a: a.get(f"/project/acme/2.0--draft--{'a' * 52}/"), None),
    "see the draft's public page": (lambda a: a.get("/project/acme/2.0/"), None),
    "see the draft's index with its token": (lambda a: a.get(f"/simple/draft/{a.world.token}/acme/"), None),
    "see the draft in the JSON API": (lambda a: a.get("/pypi/acme/2.0/json"), None),
    "see the draft in the maintainer API": (lambda a: a.api("GET", "/api/v1/projects/acme/releases/2.0/"), None),
    "see the draft in the dashboard": (lambda a: a.get(_release_path(a.world)), None),
    "upload to the draft": (
        lambda a: a.upload(),
        lambda w: File.objects.filter(release=w.draft).count() == 2,
    ),
    "publish in the dashboard": (
        lambda a: a.post(_release_path(a.world, "publish/")),
        lambda w: _draft().published is not None,
    ),
    "publish through the API": (
        lambda a: a.api("POST", "/api/v1/projects/acme/releases/2.0/publish/"),
        lambda w: _draft().published is not None,
    ),
    "publish in Django admin": (
        lambda a: a.post(f"/admin/releases/release/{a.world.draft.pk}/publish/"),
        lambda w: _draft().published is not None,
    ),
    "discard in the dashboard": (lambda a: a.post(_release_path(a.world, "discard/")), lambda w: _draft() is None),
    "discard through the API": (
        lambda a: a.api("DELETE", "/api/v1/projects/acme/releases/2.0/"),
        lambda w: _draft() is None,
    ),
    "discard in Django admin": (
        lambda a: a.post(f"/admin/releases/release/{a.world.draft.pk}/discard/"),
        lambda w: _draft() is None,
    ),
    "rotate the draft token in the dashboard": (
        lambda a: a.post(_release_path(a.world, "rotate/")),
        lambda w: _draft().draft_token_hash != w.draft.draft_token_hash,
    ),
    "rotate the draft token through the API": (
        lambda a: a.api("POST", "/api/v1/projects/acme/releases/2.0/rotate-token/"),
        lambda w: _draft().draft_token_hash != w.draft.draft_token_hash,
    ),
    "rotate the draft token in Django admin": (
        lambda a: a.post(f"/admin/releases/release/{a.world.draft.pk}/rotate/"),
        lambda w: _draft().draft_token_hash != w.draft.draft_token_hash,
    ),
    "change settings in the dashboard": (
        lambda a: a.post("/manage/projects/acme/settings/", {}),  # an unchecked box: auto-publish off
        lambda w: not Project.objects.get(pk=w.project.pk).auto_publish_releases,
    ),
    "change settings through the API": (
        lambda a: a.api("PATCH", "/api/v1/projects/acme/", '{"auto_publish_releases": false}'),
        lambda w: not Project.objects.get(pk=w.project.pk).auto_publish_releases,
    ),
    "add a maintainer": (
        lambda a: a.post("/manage/projects/acme/roles/", {"username": "erin", "role": Role.MAINTAINER}),
        lambda w: Role.objects.filter(project=w.project, user=w.erin).exists(),
    ),
    "remove a maintainer": (
        lambda a: a.post(f"/manage/projects/acme/roles/{a.world.dora_role.pk}/remove/"),
        lambda w: not Role.objects.filter(pk=w.dora_role.pk).exists(),
    ),
    "create a token scoped to the project": (
        lambda a: a.post("/manage/tokens/", {"description": "ci", "project": str(a.world.project.pk)}),
        lambda w: ApiToken.objects.filter(project=w.project).count() == 2,
    ),
    "revoke the project's token": (
        lambda a: a.post(f"/manage/tokens/{a.world.acme_token.pk}/revoke/"),
        lambda w: not ApiToken.objects.filter(pk=w.acme_token.pk).exists(),
    ),
}

assert set(ACTIONS) == set(EXPECTED), set(ACTIONS) ^ set(EXPECTED)
CELLS = [
    pytest.param(action, role, outcome, id=f"{action} / {role}")
    for action, outcomes in EXPECTED.items()
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "role", "expected"), CELLS)
def test_every_role_can_do_exactly_what_the_design_allows(world, action, role, expected):
    act, done = ACTIONS[action]
    caller = Caller(world, role)

    response = act(caller)

    status = response.status_code
    location = response.get("Location", "")
    if expected == "ok":
        assert status in (200, 204, 302), (status, response.content[:300])
        if status == 302:
            assert not location.startswith(("/accounts/login/", "/admin/login/")), location
        if done is None:
            assert b"2.0" in response.content
    elif expected == "login":
        assert status == 302 and location.startswith("/accounts/login/?next="), (status, location)
    elif expected == "admin login":
        assert status == 302 and location.startswith("/admin/login/?next="), (status, location)
    else:
        assert status == int(expected), (status, response.content[:300])
        if status == 401:
            assert response["WWW-Authenticate"].startswith("Basic")
    if done is not None:
        assert done(world) == (expected == "ok"), (
            f"{action} by {role}: the state {'did not change' if expected == 'ok' else 'changed'}"
        )
    if expected in ("401", "403", "404") and done is None:
        # A refusal never hands out the draft's secret link.
        assert world.token.encode() not in response.content
