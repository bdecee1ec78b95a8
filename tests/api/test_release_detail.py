"""GET /api/v1/projects/<project>/releases/<version>/."""

from __future__ import annotations

import pytest
from rest_framework import serializers as drf

from releases.api.serializers import FileSerializer
from releases.services import draft_token
from releases.storage import packages_storage
from tests.api.conftest import release_url, releases_url

pytestmark = pytest.mark.django_db


def test_detail_equals_the_list_entry(alice_api, draft, published):
    listed = alice_api.get(releases_url()).json()["releases"]
    assert len(listed) == 2
    for entry in listed:
        response = alice_api.get(release_url(entry["version"]))
        assert response.status_code == 200
        assert response.json() == entry


def test_draft_detail_has_its_links(bob_api, draft):
    data = bob_api.get(release_url("2.0")).json()
    assert data["is_draft"] is True
    assert draft_token(draft) in data["draft_index_url"]


def test_equivalent_version_spelling_finds_the_release(alice_api, published):
    response = alice_api.get(release_url("1.00"))
    assert response.status_code == 200
    assert response.json()["version"] == "1.0"


def test_unknown_version_is_404_with_a_message(alice_api, published):
    response = alice_api.get(release_url("9.9"))
    assert response.status_code == 404
    assert response.json() == {"detail": "acme has no release 9.9."}


def test_invalid_version_is_404(alice_api, published):
    assert alice_api.get(release_url("not-a-version")).status_code == 404


def test_file_urls_download_the_files_of_the_draft_and_then_of_the_release(alice_api, draft, client):
    def fetched(url: str) -> bytes:
        response = client.get(url)
        if response.status_code == 302:  # S3: a presigned URL of the object
            assert draft_file.path in response["Location"]
            return packages_storage().open(draft_file.path).read()
        assert response.status_code == 200, url
        return b"".join(response.streaming_content)

    draft_file = draft.files.get()
    stored = packages_storage().open(draft_file.path).read()
    (entry,) = alice_api.get(release_url("2.0")).json()["files"]
    assert entry["url"] == f"http://testserver/simple/draft/{draft_token(draft)}/packages/{draft_file.path}"
    assert fetched(entry["url"]) == stored

    (entry,) = alice_api.post(release_url("2.0") + "publish/").json()["files"]
    assert entry["url"] == f"http://testserver/packages/{draft_file.path}"
    assert fetched(entry["url"]) == stored


def test_file_entries_match_the_declared_fields(alice_api, draft, rf):
    """FileSerializer writes its entries by hand; they must equal DRF's own rendering."""
    request = rf.get("/")
    generic = drf.Serializer.to_representation
    files = list(draft.files.all())
    assert len(files) == 1
    for stored in files:
        serializer = FileSerializer(context={"request": request})
        assert serializer.to_representation(stored) == generic(serializer, stored)
