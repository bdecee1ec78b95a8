"""Publish, discard and rotate from the dashboard: a confirmation page, then a POST
protected by CSRF that calls the service (audited as channel "web")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from releases.models import AuditEvent, JournalEntry, Release
from releases.services import draft_token

pytestmark = pytest.mark.django_db

PUBLISH = "/manage/projects/acme/releases/2.0/publish/"
DISCARD = "/manage/projects/acme/releases/2.0/discard/"
ROTATE = "/manage/projects/acme/releases/2.0/rotate/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_publish_confirmation_names_the_version_and_what_becomes_public(as_alice, draft):
    response = as_alice.get(PUBLISH)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Publish acme 2.0?" in html
    assert "/project/acme/2.0/" in html and "/simple/acme/" in html
    assert draft.files.count() == 2
    for f in draft.files.all():
        assert f.filename in html
    assert "csrfmiddlewaretoken" in html
    assert Release.objects.get(pk=draft.pk).is_draft  # looking changes nothing


def test_publish_post_publishes_with_a_message(as_alice, draft):
    response = as_alice.post(PUBLISH, follow=True)
    assert response.redirect_chain == [("/manage/projects/acme/", 302)]
    assert "Published acme 2.0" in messages_of(response)
    release = Release.objects.get(pk=draft.pk)
    assert release.published is not None and release.draft_nonce is None
    assert JournalEntry.objects.filter(name="acme", version="2.0", action="new release").exists()
    event = AuditEvent.objects.get(action="publish")
    assert (event.channel, event.actor_name, event.project_name, event.version) == ("web", "alice", "acme", "2.0")
    assert event.client_ip == "127.0.0.1"


def test_maintainer_may_publish(as_bob, draft):
    as_bob.post(PUBLISH)
    assert Release.objects.get(pk=draft.pk).published is not None


@pytest.mark.parametrize("who", ["charlie", "staff"])
def test_outsiders_cannot_publish(who, request, draft):
    client = request.getfixturevalue(f"as_{who}")
    assert client.post(PUBLISH).status_code == 404
    assert Release.objects.get(pk=draft.pk).is_draft


def test_anonymous_cannot_publish(client, draft):
    response = client.post(PUBLISH)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Release.objects.get(pk=draft.pk).is_draft


def test_publish_needs_a_csrf_token(alice, draft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(PUBLISH).status_code == 403
    assert Release.objects.get(pk=draft.pk).is_draft


def test_publish_with_the_csrf_token_from_the_confirmation_page(alice, draft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(PUBLISH)
    token = page.context["csrf_token"]
    response = client.post(PUBLISH, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert Release.objects.get(pk=draft.pk).published is not None


def test_publishing_twice_is_a_clear_no_op(as_alice, draft):
    as_alice.post(PUBLISH)
    published_at = Release.objects.get(pk=draft.pk).published
    response = as_alice.post(PUBLISH, follow=True)
    assert any("already published" in m for m in messages_of(response))
    assert Release.objects.get(pk=draft.pk).published == published_at
    assert AuditEvent.objects.filter(action="publish").count() == 1
    # And the confirmation page says so instead of offering the button again.
    html = as_alice.get(PUBLISH).content.decode()
    assert "already published" in html and "confirm-publish" not in html


def test_expired_draft_cannot_be_published(as_alice, draft, settings):
    Release.objects.filter(pk=draft.pk).update(
        created=timezone.now() - timedelta(days=settings.PYPIDRAFT_DRAFT_TTL_DAYS + 1)
    )
    response = as_alice.post(PUBLISH, follow=True)
    assert any("expired" in m for m in messages_of(response))
    assert Release.objects.get(pk=draft.pk).is_draft


def test_get_never_changes_state(as_alice, draft):
    token = draft_token(draft)
    for path in (PUBLISH, DISCARD, ROTATE):
        assert as_alice.get(path).status_code == 200
    release = Release.objects.get(pk=draft.pk)
    assert release.is_draft and draft_token(release) == token


def test_discard_confirmation_and_post(as_bob, draft):
    html = as_bob.get(DISCARD).content.decode()
    assert "Discard the draft acme 2.0?" in html
    response = as_bob.post(DISCARD, follow=True)
    assert "Discarded the draft acme 2.0" in messages_of(response)
    assert not Release.objects.filter(pk=draft.pk).exists()
    assert AuditEvent.objects.get(action="discard").channel == "web"


def test_published_release_cannot_be_discarded(as_alice, published):
    path = "/manage/projects/acme/releases/1.0/discard/"
    assert "only drafts can be discarded" in as_alice.get(path).content.decode().lower()
    response = as_alice.post(path, follow=True)
    assert any("only drafts can be discarded" in m for m in messages_of(response))
    assert Release.objects.filter(pk=published.pk).exists()


def test_outsider_cannot_discard(as_charlie, draft):
    assert as_charlie.post(DISCARD).status_code == 404
    assert Release.objects.filter(pk=draft.pk).exists()


def test_rotate_gives_a_new_link_and_kills_the_old_one(as_alice, client, draft):
    old = draft_token(draft)
    assert client.get(f"/simple/draft/{old}/").status_code == 200
    response = as_alice.post(ROTATE, follow=True)
    assert response.redirect_chain == [("/manage/projects/acme/releases/2.0/", 302)]
    assert any(m.startswith("New draft link for acme 2.0") for m in messages_of(response))
    new = draft_token(Release.objects.get(pk=draft.pk))
    assert new != old
    assert f"/simple/draft/{new}/" in response.content.decode()
    assert client.get(f"/simple/draft/{old}/").status_code == 404
    assert client.get(f"/simple/draft/{new}/").status_code == 200
    assert AuditEvent.objects.get(action="rotate draft token").channel == "web"


def test_outsider_cannot_rotate(as_charlie, draft):
    token = draft_token(draft)
    assert as_charlie.post(ROTATE).status_code == 404
    assert draft_token(Release.objects.get(pk=draft.pk)) == token


def test_published_release_has_nothing_to_rotate(as_alice, published):
    response = as_alice.post("/manage/projects/acme/releases/1.0/rotate/", follow=True)
    assert any("no draft link" in m for m in messages_of(response))


def test_upload_then_publish_then_install_from_the_simple_index(uploader, as_alice, client, alice, project):
    """The whole path with a real upload: the draft shows in the dashboard, then in /simple/."""
    response = uploader.upload("acme", "3.0", path="/legacy/draft/")
    assert response.status_code == 200, response.content
    assert "acme-3.0-py3-none-any.whl" not in client.get("/simple/acme/").content.decode()
    html = as_alice.get("/manage/projects/acme/").content.decode()
    assert 'data-version="3.0"' in html and "badge-draft" in html
    as_alice.post("/manage/projects/acme/releases/3.0/publish/")
    assert "acme-3.0-py3-none-any.whl" in client.get("/simple/acme/").content.decode()
