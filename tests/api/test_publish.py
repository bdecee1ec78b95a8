"""POST …/releases/<version>/publish/: the same service as the web and admin."""

from __future__ import annotations

import pytest

from releases.models import AuditEvent, JournalEntry, Release
from releases.services import draft_token
from tests.api.conftest import release_url

pytestmark = pytest.mark.django_db


def publish(api, version="2.0"):
    return api.post(release_url(version) + "publish/")


def test_publish_answers_the_published_release(alice_api, draft, client):
    token = draft_token(draft)
    response = publish(alice_api)
    assert response.status_code == 200
    data = response.json()
    assert data["version"] == "2.0"
    assert data["is_draft"] is False
    assert data["published"] is not None
    assert data["draft_index_url"] is None
    assert data["preview_url"] is None
    assert data["files"][0]["url"].startswith("http://testserver/packages/")
    draft.refresh_from_db()
    assert not draft.is_draft
    # Visible everywhere at once; the old draft link redirects to the public index.
    page = client.get("/simple/acme/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    assert "2.0" in page["versions"]
    assert client.get(f"/simple/draft/{token}/").status_code == 301


def test_publish_is_audited_with_channel_api_and_the_token(alice_api, alice, alice_token, draft):
    publish(alice_api, "2.0")
    event = AuditEvent.objects.get(action="publish")
    assert event.channel == AuditEvent.API
    assert event.actor == alice
    assert event.token_prefix == alice_token[:12]
    assert event.version == "2.0"
    assert event.client_ip == "127.0.0.1"


def test_publish_writes_the_journal(alice_api, draft):
    before = JournalEntry.objects.count()
    publish(alice_api)
    entries = list(JournalEntry.objects.order_by("id")[before:])
    assert [e.action for e in entries] == ["new release", f"add bdist_wheel file {draft.files.get().filename}"]


def test_publishing_twice_is_409_and_changes_nothing(alice_api, draft):
    assert publish(alice_api).status_code == 200
    published_at = Release.objects.get(pk=draft.pk).published
    serial = JournalEntry.objects.count()
    response = publish(alice_api)
    assert response.status_code == 409
    assert "already published" in response.json()["detail"]
    assert Release.objects.get(pk=draft.pk).published == published_at
    assert JournalEntry.objects.count() == serial


def test_a_maintainer_may_publish(bob_api, draft):
    assert publish(bob_api).status_code == 200


def test_publish_unknown_version_is_404(alice_api, draft):
    assert publish(alice_api, "5.0").status_code == 404


def test_publish_needs_post(alice_api, draft):
    response = alice_api.get(release_url("2.0") + "publish/")
    assert response.status_code == 405
    assert "detail" in response.json()
    draft.refresh_from_db()
    assert draft.is_draft


def test_an_expired_draft_cannot_be_published(alice_api, draft, settings):
    Release.objects.filter(pk=draft.pk).update(created=draft.created.replace(year=draft.created.year - 1))
    response = publish(alice_api)
    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
