"""Django admin: staff moderate drafts through the same services (channel "admin");
published content is read-only, secrets are never shown."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from releases.models import ApiToken, AuditEvent, File, JournalEntry, Project, Release, Role
from releases.services import Actor, create_api_token, draft_token, publish_release
from tests.support.admin_forms import project_form
from tests.support.factories import make_published
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db

RELEASES = "/admin/releases/release/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def change_url(release: Release) -> str:
    return f"{RELEASES}{release.pk}/change/"


def test_non_staff_are_sent_to_the_admin_login(as_alice, draft):
    for path in (RELEASES, change_url(draft), f"{RELEASES}{draft.pk}/publish/"):
        response = as_alice.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert as_alice.post(f"{RELEASES}{draft.pk}/publish/").status_code == 302
    assert Release.objects.get(pk=draft.pk).is_draft


def test_release_list_shows_status_and_columns(as_staff, draft, published):
    html = as_staff.get(RELEASES).content.decode()
    for column in ("Project", "Version", "Status", "Created", "Published", "Uploader"):
        assert column in html
    assert ">Draft<" in html and ">Published<" in html


def test_drafts_are_listed_first(as_staff, draft, published):
    response = as_staff.get(RELEASES)
    versions = [r.version for r in response.context["cl"].result_list]
    assert versions == ["2.0", "1.0"]


@pytest.mark.parametrize(("status", "versions"), [("draft", ["2.0"]), ("published", ["1.0"]), ("expired", [])])
def test_status_filter(as_staff, draft, published, status, versions):
    response = as_staff.get(RELEASES, {"status": status})
    assert [r.version for r in response.context["cl"].result_list] == versions


def test_search_by_project_and_version(as_staff, draft, published, secret_draft):
    assert [r.version for r in as_staff.get(RELEASES, {"q": "secret"}).context["cl"].result_list] == ["0.1"]
    assert [r.version for r in as_staff.get(RELEASES, {"q": "2.0"}).context["cl"].result_list] == ["2.0"]


def test_publish_selected_asks_for_confirmation_first(as_staff, draft, published):
    response = as_staff.post(RELEASES, {"action": "publish_selected", "_selected_action": [draft.pk, published.pk]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "acme 2.0" in html and "already published" in html
    assert 'name="post" value="yes"' in html
    assert Release.objects.get(pk=draft.pk).is_draft


def test_publish_selected_publishes_through_the_service(as_staff, draft, published, secret_draft):
    response = as_staff.post(
        RELEASES,
        {"action": "publish_selected", "_selected_action": [draft.pk, secret_draft.pk, published.pk], "post": "yes"},
        follow=True,
    )
    notes = messages_of(response)
    assert "Published acme 2.0" in notes and "Published secret 0.1" in notes
    assert "Skipped acme 1.0: it is already published." in notes
    assert Release.objects.drafts().count() == 0
    events = AuditEvent.objects.filter(action="publish")
    assert {(e.channel, e.actor_name) for e in events} == {("admin", "staff")}
    assert JournalEntry.objects.filter(name="secret", action="new release").exists()


def test_discard_selected(as_staff, draft, published):
    confirm = as_staff.post(RELEASES, {"action": "discard_selected", "_selected_action": [draft.pk]})
    assert "Discard these drafts?" in confirm.content.decode()
    response = as_staff.post(
        RELEASES,
        {"action": "discard_selected", "_selected_action": [draft.pk, published.pk], "post": "yes"},
        follow=True,
    )
    assert "Discarded the draft acme 2.0" in messages_of(response)
    assert not Release.objects.filter(pk=draft.pk).exists()
    assert Release.objects.filter(pk=published.pk).exists()
    assert AuditEvent.objects.get(action="discard").channel == "admin"


def test_no_bulk_delete_of_releases(as_staff, draft):
    actions = dict(as_staff.get(RELEASES).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert set(actions) >= {"publish_selected", "discard_selected"}


def test_staff_without_change_permission_cannot_publish(draft):
    viewer = User.objects.create_user("viewer", password="x" * 20, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_release"))
    client = signed_in(viewer)
    response = client.get(RELEASES)
    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action at all without the right
    response = client.post(RELEASES, {"action": "publish_selected", "_selected_action": [draft.pk], "post": "yes"})
    assert client.post(f"{RELEASES}{draft.pk}/publish/").status_code == 403
    assert Release.objects.get(pk=draft.pk).is_draft


def test_staff_who_may_only_view_releases_do_not_see_the_draft_links(draft):
    viewer = User.objects.create_user("viewer", password="x" * 20, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="releases", codename="view_release"))
    response = signed_in(viewer).get(change_url(draft))
    html = response.content.decode()
    assert response.status_code == 200
    assert "acme" in html and "Draft." in html
    assert draft_token(draft) not in html
    assert "/simple/draft/" not in html and "--draft--" not in html
    assert "preview_url" not in response.context and "draft_index_url" not in response.context
    for action in ("publish", "discard", "rotate"):
        assert f"{RELEASES}{draft.pk}/{action}/" not in html


def test_staff_who_may_change_releases_see_the_draft_links(draft):
    moderator = User.objects.create_user("moderator", password="x" * 20, is_staff=True)
    for codename in ("view_release", "change_release"):
        moderator.user_permissions.add(Permission.objects.get(content_type__app_label="releases", codename=codename))
    html = signed_in(moderator).get(change_url(draft)).content.decode()
    assert f"/simple/draft/{draft_token(draft)}/" in html


def test_draft_change_page_shows_links_and_buttons(as_staff, draft):
    html = as_staff.get(change_url(draft)).content.decode()
    token = draft_token(draft)
    assert f"http://testserver/simple/draft/{token}/" in html
    assert f"http://testserver/project/acme/2.0--draft--{token}/" in html
    for action in ("publish", "discard", "rotate"):
        assert f"{RELEASES}{draft.pk}/{action}/" in html
    assert draft.files.count() == 2
    for f in draft.files.all():
        assert f.filename in html


def test_publish_button_confirms_then_publishes(as_staff, draft):
    path = f"{RELEASES}{draft.pk}/publish/"
    assert "Publish <strong>acme 2.0</strong>?" in as_staff.get(path).content.decode()
    assert Release.objects.get(pk=draft.pk).is_draft
    response = as_staff.post(path, follow=True)
    assert "Published acme 2.0" in messages_of(response)
    assert Release.objects.get(pk=draft.pk).published is not None
    assert AuditEvent.objects.get(action="publish").channel == "admin"
    # Again: a clear message, nothing changes.
    response = as_staff.post(path, follow=True)
    assert any("already published" in m for m in messages_of(response))


def test_discard_and_rotate_buttons(as_staff, draft):
    old = draft_token(draft)
    as_staff.post(f"{RELEASES}{draft.pk}/rotate/")
    assert draft_token(Release.objects.get(pk=draft.pk)) != old
    assert AuditEvent.objects.get(action="rotate draft token").channel == "admin"
    response = as_staff.post(f"{RELEASES}{draft.pk}/discard/")
    assert response["Location"] == RELEASES
    assert not Release.objects.filter(pk=draft.pk).exists()


def test_published_release_is_read_only(as_staff, published):
    html = as_staff.get(change_url(published)).content.decode()
    assert 'name="_save"' not in html and "/publish/" not in html
    assert f"{RELEASES}{published.pk}/delete/" not in html
    summary = published.summary
    response = as_staff.post(change_url(published), {"summary": "changed", "version": "9.9"})
    assert response.status_code == 403
    assert as_staff.post(f"{RELEASES}{published.pk}/delete/", {"post": "yes"}).status_code == 403
    release = Release.objects.get(pk=published.pk)
    assert (release.summary, release.version) == (summary, "1.0")


def test_releases_cannot_be_added_in_admin(as_staff):
    assert as_staff.get(f"{RELEASES}add/").status_code == 403


def test_file_admin_is_read_only_with_digests(as_staff, published):
    f = published.files.get()
    html = as_staff.get(f"/admin/releases/file/{f.pk}/change/").content.decode()
    assert f.sha256_digest in html and f.blake2_256_digest in html and f.md5_digest in html
    assert 'name="sha256_digest"' not in html
    assert as_staff.post(f"/admin/releases/file/{f.pk}/change/", {"sha256_digest": "0" * 64}).status_code == 403
    assert as_staff.post(f"/admin/releases/file/{f.pk}/delete/", {"post": "yes"}).status_code == 403
    assert File.objects.get(pk=f.pk).sha256_digest == f.sha256_digest


@pytest.mark.parametrize("model", ["journalentry", "auditevent"])
def test_journal_and_audit_are_read_only(as_staff, draft, alice, model):
    publish_release(release=draft, actor=Actor(user=alice, channel=AuditEvent.WEB))
    assert as_staff.get(f"/admin/releases/{model}/").status_code == 200
    assert as_staff.get(f"/admin/releases/{model}/add/").status_code == 403
    row = (JournalEntry if model == "journalentry" else AuditEvent).objects.first()
    assert as_staff.post(f"/admin/releases/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert as_staff.post(f"/admin/releases/{model}/{row.pk}/change/", {}).status_code == 403


def test_api_token_admin_never_shows_the_secret(as_staff, alice, project):
    api_token, secret = create_api_token(user=alice, project=project, description="ci")
    for path in ("/admin/releases/apitoken/", f"/admin/releases/apitoken/{api_token.pk}/change/"):
        html = as_staff.get(path).content.decode()
        assert secret not in html and api_token.digest not in html
        assert api_token.prefix in html
    assert as_staff.get("/admin/releases/apitoken/add/").status_code == 403


def test_deleting_an_api_token_in_admin_revokes_it_with_an_audit_entry(as_staff, alice):
    api_token, _ = create_api_token(user=alice)
    as_staff.post(f"/admin/releases/apitoken/{api_token.pk}/delete/", {"post": "yes"})
    assert not ApiToken.objects.filter(pk=api_token.pk).exists()
    event = AuditEvent.objects.get(action="revoke api token")
    assert (event.channel, event.detail["user"]) == ("admin", "alice")


# --- projects and roles --------------------------------------------------------------------


def test_project_change_page_has_roles_inline(as_staff, project):
    html = as_staff.get(f"/admin/releases/project/{project.pk}/change/").content.decode()
    assert "roles-TOTAL_FORMS" in html and "auto_publish_releases" in html


def test_roles_inline_goes_through_the_services(as_staff, project, alice, bob, charlie):
    alice_role, bob_role = Role.objects.get(user=alice), Role.objects.get(user=bob)
    data = project_form(
        project,
        [(alice_role, alice, "owner", False), (bob_role, bob, "maintainer", True), (None, charlie, "owner", False)],
    )
    response = as_staff.post(f"/admin/releases/project/{project.pk}/change/", data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    roles = dict(Role.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "charlie": "owner"}
    actions = set(AuditEvent.objects.filter(channel="admin").values_list("action", flat=True))
    assert actions == {"add role", "remove role"}


def test_roles_inline_refuses_to_remove_the_last_owner(as_staff, project, alice, bob):
    alice_role, bob_role = Role.objects.get(user=alice), Role.objects.get(user=bob)
    data = project_form(project, [(alice_role, alice, "owner", True), (bob_role, bob, "maintainer", False)])
    response = as_staff.post(f"/admin/releases/project/{project.pk}/change/", data)
    assert response.status_code == 200
    assert "at least one owner" in response.content.decode()
    assert Role.objects.filter(pk=alice_role.pk).exists()


def test_auto_publish_changed_in_admin_is_audited(as_staff, project, alice, bob):
    roles = [
        (Role.objects.get(user=alice), alice, "owner", False),
        (Role.objects.get(user=bob), bob, "maintainer", False),
    ]
    response = as_staff.post(
        f"/admin/releases/project/{project.pk}/change/", project_form(project, roles, auto_publish_releases=False)
    )
    assert response.status_code == 302
    assert not Project.objects.get(pk=project.pk).auto_publish_releases
    event = AuditEvent.objects.get(action="set auto_publish_releases")
    assert (event.channel, event.detail) == ("admin", {"enabled": False})


def test_staff_reserve_a_project_name(as_staff, alice):
    data = {
        "name": "New.Thing",
        "auto_publish_releases": "",
        "roles-TOTAL_FORMS": "1",
        "roles-INITIAL_FORMS": "0",
        "roles-MIN_NUM_FORMS": "0",
        "roles-MAX_NUM_FORMS": "1000",
        "roles-0-user": str(alice.pk),
        "roles-0-role": "owner",
    }
    response = as_staff.post("/admin/releases/project/add/", data)
    assert response.status_code == 302
    project = Project.objects.get(normalized_name="new-thing")
    assert project.name == "New.Thing" and not project.auto_publish_releases
    assert Role.objects.get(project=project).user == alice
    assert AuditEvent.objects.filter(action="create project", channel="admin").exists()


def test_duplicate_project_names_are_refused(as_staff, project, alice):
    response = as_staff.post(
        "/admin/releases/project/add/", {"name": "ACME", "roles-TOTAL_FORMS": "0", "roles-INITIAL_FORMS": "0"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_projects_with_releases_cannot_be_deleted(as_staff, project, published):
    assert as_staff.post(f"/admin/releases/project/{project.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_an_empty_project_can_be_deleted(as_staff, project):
    response = as_staff.post(f"/admin/releases/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert AuditEvent.objects.get(action="delete project").channel == "admin"


def test_project_list_counts_drafts(as_staff, draft):
    make_published(draft.project, "0.5", by=draft.uploader)
    response = as_staff.get("/admin/releases/project/")
    row = response.context["cl"].result_list[0]
    assert (row.draft_count, row.published_count) == (1, 2)
