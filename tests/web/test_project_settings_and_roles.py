"""Project settings and roles: owners only; a project never loses its last owner."""

from __future__ import annotations

import pytest

from releases.errors import PermissionDenied
from releases.models import AuditEvent, Project, Role
from releases.services import Actor, RoleError, remove_role, set_role

pytestmark = pytest.mark.django_db

SETTINGS = "/manage/projects/acme/settings/"
ROLES = "/manage/projects/acme/roles/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_settings_page_explains_auto_publish(as_alice, project):
    html = as_alice.get(SETTINGS).content.decode()
    assert 'name="auto_publish_releases"' in html
    assert "starts as a draft" in html or "start as a draft" in html


def test_owner_turns_auto_publish_off_and_on(as_alice, project):
    response = as_alice.post(SETTINGS, {}, follow=True)
    assert not Project.objects.get(pk=project.pk).auto_publish_releases
    assert "New releases of acme now start as drafts." in messages_of(response)
    as_alice.post(SETTINGS, {"auto_publish_releases": "on"})
    assert Project.objects.get(pk=project.pk).auto_publish_releases
    events = AuditEvent.objects.filter(action="set auto_publish_releases").order_by("id")
    assert [(e.channel, e.detail["enabled"]) for e in events] == [("web", False), ("web", True)]


def test_maintainer_cannot_change_settings(as_bob, project):
    response = as_bob.post(SETTINGS, {})
    assert response.status_code == 403
    assert "Only owners" in response.content.decode()
    assert Project.objects.get(pk=project.pk).auto_publish_releases


@pytest.mark.parametrize("who", ["charlie", "staff"])
def test_outsiders_cannot_change_settings(who, request, project):
    assert request.getfixturevalue(f"as_{who}").post(SETTINGS, {}).status_code == 404
    assert Project.objects.get(pk=project.pk).auto_publish_releases


def test_settings_page_lists_roles(as_alice, project):
    html = as_alice.get(SETTINGS).content.decode()
    assert "alice" in html and "bob" in html and "Maintainer" in html
    # alice is the only owner: no remove button for her.
    assert "last owner" in html


def test_owner_adds_a_maintainer(as_alice, project, charlie):
    response = as_alice.post(ROLES, {"username": "charlie", "role": "maintainer"}, follow=True)
    assert "charlie added as a maintainer of acme" in messages_of(response)
    assert Role.objects.get(project=project, user=charlie).role == "maintainer"
    # The fixture's roles were given by an operator (channel "command"); this one by alice.
    event = AuditEvent.objects.get(action="add role", detail__user="charlie")
    assert (event.channel, event.detail) == ("web", {"user": "charlie", "role": "maintainer"})


def test_owner_promotes_a_maintainer(as_alice, project, bob):
    as_alice.post(ROLES, {"username": "bob", "role": "owner"})
    assert Role.objects.get(project=project, user=bob).role == "owner"


def test_adding_an_unknown_user_says_so(as_alice, project):
    response = as_alice.post(ROLES, {"username": "nobody", "role": "owner"})
    assert response.status_code == 400
    assert "no active user named" in response.content.decode()


def test_adding_an_unknown_role_is_refused(as_alice, project, charlie):
    assert as_alice.post(ROLES, {"username": "charlie", "role": "admin"}).status_code == 400
    assert not Role.objects.filter(user=charlie).exists()


def test_maintainer_cannot_add_roles(as_bob, project, charlie):
    assert as_bob.post(ROLES, {"username": "charlie", "role": "owner"}).status_code == 403
    assert not Role.objects.filter(user=charlie).exists()


def test_outsider_cannot_add_themselves(as_charlie, project, charlie):
    assert as_charlie.post(ROLES, {"username": "charlie", "role": "owner"}).status_code == 404
    assert not Role.objects.filter(user=charlie).exists()


def test_owner_removes_a_maintainer_after_confirming(as_alice, project, bob):
    role = Role.objects.get(project=project, user=bob)
    path = f"/manage/projects/acme/roles/{role.pk}/remove/"
    assert "Remove bob from acme?" in as_alice.get(path).content.decode()
    assert Role.objects.filter(pk=role.pk).exists()
    response = as_alice.post(path, follow=True)
    assert "Removed bob (maintainer) from acme" in messages_of(response)
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEvent.objects.get(action="remove role").channel == "web"


def test_the_last_owner_cannot_be_removed(as_alice, project, alice):
    role = Role.objects.get(project=project, user=alice)
    response = as_alice.post(f"/manage/projects/acme/roles/{role.pk}/remove/", follow=True)
    assert any("last owner" in m for m in messages_of(response))
    assert Role.objects.filter(pk=role.pk).exists()


def test_the_last_owner_cannot_be_demoted(as_alice, project, alice):
    response = as_alice.post(ROLES, {"username": "alice", "role": "maintainer"})
    assert response.status_code == 400
    assert "last owner" in response.content.decode()
    assert Role.objects.get(project=project, user=alice).role == "owner"


def test_an_owner_can_leave_when_another_owner_remains(as_alice, project, alice, bob):
    Role.objects.filter(project=project, user=bob).update(role="owner")
    role = Role.objects.get(project=project, user=alice)
    response = as_alice.post(f"/manage/projects/acme/roles/{role.pk}/remove/")
    assert response.status_code == 302 and response["Location"] == "/manage/"
    assert list(Role.objects.filter(project=project).values_list("user__username", flat=True)) == ["bob"]


def test_maintainer_cannot_remove_roles(as_bob, project, alice):
    role = Role.objects.get(project=project, user=alice)
    assert as_bob.post(f"/manage/projects/acme/roles/{role.pk}/remove/").status_code == 403
    assert Role.objects.filter(pk=role.pk).exists()


def test_role_of_another_project_is_404(as_alice, project, secret_draft):
    other = Role.objects.get(project=secret_draft.project)
    assert as_alice.post(f"/manage/projects/acme/roles/{other.pk}/remove/").status_code == 404
    assert Role.objects.filter(pk=other.pk).exists()


# The services themselves, for callers other than the dashboard.


def test_set_role_refuses_a_maintainer(project, bob, charlie):
    with pytest.raises(PermissionDenied):
        set_role(project=project, username="charlie", role="owner", actor=Actor(user=bob, channel=AuditEvent.WEB))


def test_staff_may_change_roles_only_through_admin(project, staff, charlie):
    with pytest.raises(PermissionDenied):
        set_role(project=project, username="charlie", role="owner", actor=Actor(user=staff, channel=AuditEvent.WEB))
    set_role(project=project, username="charlie", role="owner", actor=Actor(user=staff, channel=AuditEvent.ADMIN))
    assert Role.objects.get(user=charlie).role == "owner"


def test_remove_role_keeps_the_last_owner(project, alice, staff):
    role = Role.objects.get(project=project, user=alice)
    with pytest.raises(RoleError):
        remove_role(project=project, role_id=role.pk, actor=Actor(user=staff, channel=AuditEvent.ADMIN))
