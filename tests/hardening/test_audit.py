"""Audit: every upload, publish, discard, token rotation and role change is recorded.

One row per case below: the action is done through one channel (an upload with a token
or a password, the API with a token, the dashboard, Django admin, a management command),
from a client address of its own, and exactly one AuditEvent must say who did it, when,
through which channel, from which address, with which token (its prefix) where a token
was used, on which project and version. The admin shows the log read-only.
"""

from __future__ import annotations

import getpass
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from releases.models import AuditEvent, Project, Release, Role
from releases.services import create_api_token
from tests.conftest import PASSWORD, Uploader, basic
from tests.support.admin_forms import project_form
from tests.support.distributions import make_wheel

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    project: Project
    draft: Release
    tokens: dict[str, str]  # username -> API token
    users: dict[str, User]
    address: str  # the client address of the request under test

    def client(self, username: str | None = None) -> Client:
        client = Client(REMOTE_ADDR=self.address)
        if username:
            client.force_login(self.users[username])
        return client

    def api(self, username: str, method: str, path: str, data: str = ""):
        return self.client().generic(
            method,
            path,
            data,
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.tokens[username]}"},
        )

    def upload(self, version: str, *, token: str | None = None, module_source: str | None = None, tag="py3-none-any"):
        wheel = make_wheel("acme", version, tag=tag, module_source=module_source)
        auth = basic("__token__", token) if token else basic("alice", PASSWORD)
        return Uploader(self.client()).upload("acme", version, wheel=wheel, auth=auth, path="/legacy/draft/")


@pytest.fixture
def scene(project, alice, bob, charlie, staff, uploader) -> Scene:
    assert uploader.upload("acme", "1.0").status_code == 200
    assert uploader.upload("acme", "2.0", path="/legacy/draft/").status_code == 200
    users = {u.username: u for u in (alice, bob, charlie, staff)}
    tokens = {name: create_api_token(user=user)[1] for name, user in users.items()}
    return Scene(
        project=project,
        draft=Release.objects.get(version="2.0"),
        tokens=tokens,
        users=users,
        address="192.0.2.44",
    )


def _admin_role_change(s: Scene, *, remove: bool):
    alice, bob, charlie = s.users["alice"], s.users["bob"], s.users["charlie"]
    roles = [
        (Role.objects.get(project=s.project, user=alice), alice, "owner", False),
        (Role.objects.get(project=s.project, user=bob), bob, "maintainer", remove),
    ]
    if not remove:
        roles.append((None, charlie, "maintainer", False))
    return s.client("staff").post(f"/admin/releases/project/{s.project.pk}/change/", project_form(s.project, roles))


def _command(*args: str):
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


def _purge(s: Scene):
    Release.objects.filter(pk=s.draft.pk).update(created=timezone.now() - timedelta(days=365))
    _command("purge_expired_drafts")


def _new_draft(s: Scene):
    Release.objects.filter(pk=s.draft.pk).delete()  # one draft per project at a time
    return s.upload("3.0", token=s.tokens["alice"])


def _bob_role(s: Scene) -> int:
    return Role.objects.get(project=s.project, user=s.users["bob"]).pk


@dataclass(frozen=True)
class Case:
    do: Callable[[Scene], object]
    action: str
    channel: str
    actor: str  # username; "" for nobody
    token_of: str | None = None  # whose API token was used
    version: str = "2.0"
    remote: bool = True  # False: a command, run on the server itself


# fmt: off
CASES = {
    "upload with an API token": Case(lambda s: s.upload("2.0", token=s.tokens["alice"], tag="py2-none-any"),
                                     "upload file", "upload", "alice", token_of="alice"),
    "upload with a password": Case(lambda s: s.upload("2.0", tag="py2-none-any"), "upload file", "upload", "alice"),
    "replace a draft file": Case(lambda s: s.upload("2.0", token=s.tokens["alice"], module_source="# new\n"),
                                 "replace file", "upload", "alice", token_of="alice"),
    "upload a new draft version": Case(lambda s: _new_draft(s), "upload file", "upload", "alice", token_of="alice",
                                       version="3.0"),
    "publish through the API": Case(lambda s: s.api("bob", "POST", "/api/v1/projects/acme/releases/2.0/publish/"),
                                    "publish", "api", "bob", token_of="bob"),
    "publish in the dashboard": Case(lambda s: s.client("bob").post("/manage/projects/acme/releases/2.0/publish/"),
                                     "publish", "web", "bob"),
    "publish in Django admin": Case(lambda s: s.client("staff").post(f"/admin/releases/release/{s.draft.pk}/publish/"),
                                    "publish", "admin", "staff"),
    "publish with manage.py": Case(lambda s: _command("publish_release", "acme", "2.0"),
                                   "publish", "command", getpass.getuser(), remote=False),
    "discard through the API": Case(lambda s: s.api("alice", "DELETE", "/api/v1/projects/acme/releases/2.0/"),
                                    "discard", "api", "alice", token_of="alice"),
    "discard in the dashboard": Case(lambda s: s.client("alice").post("/manage/projects/acme/releases/2.0/discard/"),
                                     "discard", "web", "alice"),
    "discard in Django admin": Case(lambda s: s.client("staff").post(f"/admin/releases/release/{s.draft.pk}/discard/"),
                                    "discard", "admin", "staff"),
    "discard with manage.py": Case(lambda s: _command("discard_draft", "acme", "2.0"),
                                   "discard", "command", getpass.getuser(), remote=False),
    "purge an expired draft with manage.py": Case(_purge, "purge expired draft", "command", getpass.getuser(),
                                                  remote=False),
    "rotate through the API": Case(lambda s: s.api("bob", "POST", "/api/v1/projects/acme/releases/2.0/rotate-token/"),
                                   "rotate draft token", "api", "bob", token_of="bob"),
    "rotate in the dashboard": Case(lambda s: s.client("alice").post("/manage/projects/acme/releases/2.0/rotate/"),
                                    "rotate draft token", "web", "alice"),
    "rotate in Django admin": Case(lambda s: s.client("staff").post(f"/admin/releases/release/{s.draft.pk}/rotate/"),
                                   "rotate draft token", "admin", "staff"),
    "add a role in the dashboard": Case(lambda s: s.client("alice").post("/manage/projects/acme/roles/",
                                                                         {"username": "charlie", "role": "maintainer"}),
                                        "add role", "web", "alice", version=""),
    "change a role in the dashboard": Case(lambda s: s.client("alice").post("/manage/projects/acme/roles/",
                                                                            {"username": "bob", "role": "owner"}),
                                           "change role", "web", "alice", version=""),
    "remove a role in the dashboard": Case(lambda s: s.client("alice").post(
                                               f"/manage/projects/acme/roles/{_bob_role(s)}/remove/"),
                                           "remove role", "web", "alice", version=""),
    "add a role in Django admin": Case(lambda s: _admin_role_change(s, remove=False),
                                       "add role", "admin", "staff", version=""),
    "remove a role in Django admin": Case(lambda s: _admin_role_change(s, remove=True),
                                          "remove role", "admin", "staff", version=""),
}
# fmt: on


@pytest.mark.parametrize("case", list(CASES))
def test_every_change_is_audited_with_who_when_channel_address_and_token(scene, case):
    expected = CASES[case]
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    started = timezone.now()

    response = expected.do(scene)

    if response is not None:  # commands answer nothing
        assert response.status_code in (200, 204, 302), response.content[:300]
    events = list(AuditEvent.objects.exclude(pk__in=before).filter(action=expected.action))
    assert len(events) == 1, [(e.action, e.channel) for e in AuditEvent.objects.exclude(pk__in=before)]
    event = events[0]
    assert event.channel == expected.channel
    assert event.actor_name == expected.actor
    if expected.actor in scene.users:
        assert event.actor == scene.users[expected.actor]
    assert started <= event.created <= timezone.now()
    assert event.client_ip == (scene.address if expected.remote else None)
    assert event.token_prefix == (scene.tokens[expected.token_of][:12] if expected.token_of else "")
    assert event.project_name == "acme"
    assert event.version == expected.version


def test_the_audit_log_is_read_only_in_django_admin(scene):
    scene.api("alice", "POST", "/api/v1/projects/acme/releases/2.0/publish/")
    event = AuditEvent.objects.get(action="publish")
    admin = scene.client("staff")

    listing = admin.get("/admin/releases/auditevent/")
    assert listing.status_code == 200
    assert "publish" in listing.content.decode()
    page = admin.get(f"/admin/releases/auditevent/{event.pk}/change/")
    assert page.status_code == 200  # viewable ...
    assert 'name="_save"' not in page.content.decode()  # ... without a save button
    assert admin.get("/admin/releases/auditevent/add/").status_code == 403
    assert admin.post(f"/admin/releases/auditevent/{event.pk}/change/", {"action": "nothing"}).status_code == 403
    assert admin.post(f"/admin/releases/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin.post(
        "/admin/releases/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302, 403)
    assert AuditEvent.objects.filter(pk=event.pk, action="publish").exists()
