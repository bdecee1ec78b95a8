"""DELETE …/releases/<version>/ discards a draft; POST …/rotate-token/ gives it a new link."""

from __future__ import annotations

import pytest

from releases.models import AuditEvent, File, Release
from releases.services import draft_token
from tests.api.conftest import release_url

pytestmark = pytest.mark.django_db


def test_delete_discards_the_draft_and_its_files(alice_api, draft, client):
    token = draft_token(draft)
    response = alice_api.delete(release_url("2.0"))
    assert response.status_code == 204
    assert not Release.objects.filter(pk=draft.pk).exists()
    assert not File.objects.filter(release_id=draft.pk).exists()
    assert client.get(f"/simple/draft/{token}/").status_code == 404
    event = AuditEvent.objects.get(action="discard")
    assert event.channel == AuditEvent.API
    assert event.token_prefix


def test_delete_of_a_published_release_is_409(alice_api, published):
    response = alice_api.delete(release_url("1.0"))
    assert response.status_code == 409
    assert "only drafts can be discarded" in response.json()["detail"]
    assert Release.objects.filter(pk=published.pk).exists()


def test_a_maintainer_may_discard(bob_api, draft):
    assert bob_api.delete(release_url("2.0")).status_code == 204


def test_rotate_gives_new_links_and_the_old_ones_stop_working(alice_api, draft, client):
    old = draft_token(draft)
    before = alice_api.get(release_url("2.0")).json()
    response = alice_api.post(release_url("2.0") + "rotate-token/")
    assert response.status_code == 200
    data = response.json()
    draft.refresh_from_db()
    new = draft_token(draft)
    assert new != old
    assert data["draft_index_url"] == f"http://testserver/simple/draft/{new}/"
    assert new in data["preview_url"]
    assert data["draft_index_url"] != before["draft_index_url"]
    assert client.get(f"/simple/draft/{old}/").status_code == 404
    assert client.get(f"/simple/draft/{new}/").status_code == 200
    assert AuditEvent.objects.get(action="rotate draft token").channel == AuditEvent.API


def test_rotate_on_a_published_release_is_409(alice_api, published):
    response = alice_api.post(release_url("1.0") + "rotate-token/")
    assert response.status_code == 409
    assert response.json()["detail"]
