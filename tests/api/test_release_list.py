"""GET /api/v1/projects/<project>/releases/: the shape DESIGN.md fixes, drafts first."""

from __future__ import annotations

import hashlib

import pytest

from releases.models import Release
from releases.services import draft_token
from tests.api.conftest import download, releases_url

pytestmark = pytest.mark.django_db

RELEASE_KEYS = {"version", "is_draft", "created", "published", "draft_index_url", "preview_url", "files"}
FILE_KEYS = {"filename", "size", "sha256", "blake2_256", "md5", "packagetype", "upload_time", "url"}


def test_lists_drafts_first_with_absolute_draft_urls(alice_api, draft, published):
    response = alice_api.get(releases_url())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["project"] == "acme"
    assert [r["version"] for r in data["releases"]] == ["2.0", "1.0"]
    first, second = data["releases"]
    assert set(first) == RELEASE_KEYS
    token = draft_token(draft)
    assert first["is_draft"] is True
    assert first["published"] is None
    assert first["draft_index_url"] == f"http://testserver/simple/draft/{token}/"
    assert first["preview_url"] == f"http://testserver/project/acme/2.0--draft--{token}/"
    assert second["is_draft"] is False
    assert second["published"] is not None
    assert second["draft_index_url"] is None
    assert second["preview_url"] is None


def test_files_carry_size_digests_and_download_urls(alice_api, draft, published, client):
    data = alice_api.get(releases_url()).json()
    assert len(data["releases"]) == 2
    for entry in data["releases"]:
        release = Release.objects.get(version=entry["version"])
        stored = release.files.get()
        (listed,) = entry["files"]
        assert set(listed) == FILE_KEYS
        assert listed["filename"] == stored.filename
        assert listed["size"] == stored.size
        assert listed["sha256"] == stored.sha256_digest
        assert listed["blake2_256"] == stored.blake2_256_digest
        assert listed["md5"] == stored.md5_digest
        assert listed["packagetype"] == "bdist_wheel"
        assert listed["upload_time"].endswith("Z")
        assert listed["url"].startswith("http://testserver/")
        assert hashlib.sha256(download(client, listed["url"])).hexdigest() == stored.sha256_digest


def test_a_draft_file_url_is_under_its_token_never_public(alice_api, draft):
    data = alice_api.get(releases_url()).json()
    url = data["releases"][0]["files"][0]["url"]
    assert f"/simple/draft/{draft_token(draft)}/packages/" in url


def test_published_releases_newest_first(alice_api, project, uploader):
    for version in ["1.0", "3.0", "2.0"]:
        assert uploader.upload("acme", version).status_code == 200
    data = alice_api.get(releases_url()).json()
    assert [r["version"] for r in data["releases"]] == ["2.0", "3.0", "1.0"]


def test_project_without_releases_lists_nothing(alice_api, project):
    response = alice_api.get(releases_url())
    assert response.status_code == 200
    assert response.json() == {"project": "acme", "releases": []}


def test_maintainer_sees_the_draft(bob_api, draft):
    data = bob_api.get(releases_url()).json()
    assert data["releases"][0]["is_draft"] is True


def test_non_normalized_name_finds_the_project(alice_api, draft):
    response = alice_api.get(releases_url("ACME"))
    assert response.status_code == 200
    assert response.json()["project"] == "acme"


def test_query_count_does_not_grow_with_releases(alice_api, project, uploader, django_assert_max_num_queries):
    for version in ["1.0", "1.1", "1.2", "1.3"]:
        assert uploader.upload("acme", version).status_code == 200
    with django_assert_max_num_queries(12):
        assert alice_api.get(releases_url()).status_code == 200


def test_answers_with_draft_links_are_never_cached(alice_api, draft):
    assert alice_api.get(releases_url())["Cache-Control"] == "private, no-store"
