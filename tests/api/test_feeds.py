"""RSS: /rss/updates.xml and /rss/project/<project>/releases.xml, published only."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.api.conftest import release_url

pytestmark = pytest.mark.django_db


def titles(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    root = ET.fromstring(response.content)
    return [item.findtext("title") for item in root.iter("item")]


def test_updates_feed_has_published_releases_only(client, draft, published, uploader):
    assert uploader.upload("secret", "0.1", path="/legacy/draft/").status_code == 200
    response = client.get("/rss/updates.xml")
    assert titles(response) == ["acme 1.0"]
    assert b"secret" not in response.content
    assert b"acme 2.0" not in response.content
    assert b"/acme/2.0/" not in response.content


def test_project_feed(client, draft, published):
    response = client.get("/rss/project/acme/releases.xml")
    assert titles(response) == ["acme 1.0"]
    root = ET.fromstring(response.content)
    assert root.find("channel/item/link").text == "http://testserver/project/acme/1.0/"


def test_published_draft_appears_in_feeds(client, alice_api, draft, published):
    alice_api.post(release_url("2.0") + "publish/")
    assert titles(client.get("/rss/updates.xml")) == ["acme 2.0", "acme 1.0"]
    assert titles(client.get("/rss/project/ACME/releases.xml")) == ["acme 2.0", "acme 1.0"]


def test_project_feed_of_a_draft_only_or_unknown_project_is_404(client, project, uploader):
    assert uploader.upload("acme", "2.0", path="/legacy/draft/").status_code == 200
    assert client.get("/rss/project/acme/releases.xml").status_code == 404
    assert client.get("/rss/project/nope/releases.xml").status_code == 404
