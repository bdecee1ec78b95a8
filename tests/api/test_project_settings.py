"""GET/PATCH /api/v1/projects/<project>/: auto_publish_releases, owners only."""

from __future__ import annotations

import pytest

from releases.models import AuditEvent, Project, Release

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/acme/"


def test_owner_reads_the_settings(alice_api, project):
    response = alice_api.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "name": "acme",
        "normalized_name": "acme",
        "created": response.json()["created"],
        "auto_publish_releases": True,
        "releases_url": "http://testserver/api/v1/projects/acme/releases/",
    }


def test_owner_turns_auto_publish_off_and_uploads_become_drafts(alice_api, project, uploader):
    response = alice_api.patch(URL, {"auto_publish_releases": False})
    assert response.status_code == 200
    assert response.json()["auto_publish_releases"] is False
    assert Project.objects.get(pk=project.pk).auto_publish_releases is False
    event = AuditEvent.objects.get(action="set auto_publish_releases")
    assert event.channel == AuditEvent.API
    assert event.token_prefix
    assert uploader.upload("acme", "3.0").status_code == 200
    assert Release.objects.get(version="3.0").is_draft
    assert alice_api.patch(URL, {"auto_publish_releases": True}).json()["auto_publish_releases"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"auto_publish_releases": "false"}, "auto_publish_releases: Must be a JSON boolean"),
        ({"auto_publish_releases": 0}, "auto_publish_releases: Must be a JSON boolean"),
        ({"auto_publish_releases": None}, "auto_publish_releases: This field may not be null."),
        ({"name": "evil"}, "Unknown field(s): name"),
        ({}, "auto_publish_releases: This field is required."),
        ([], "Invalid data"),
    ],
)
def test_bad_settings_are_400_with_a_message(alice_api, project, body, message):
    response = alice_api.patch(URL, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)
    assert Project.objects.get(pk=project.pk).auto_publish_releases is True


def test_malformed_json_is_400(alice_api, project):
    response = alice_api.client.patch(URL, b"{not json", content_type="application/json", headers=alice_api.headers())
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_form_encoded_body_is_415(alice_api, project):
    response = alice_api.client.patch(
        URL,
        "auto_publish_releases=false",
        content_type="application/x-www-form-urlencoded",
        headers=alice_api.headers(),
    )
    assert response.status_code == 415
    assert response.json()["detail"]
