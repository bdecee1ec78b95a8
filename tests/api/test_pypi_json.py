"""PyPI's JSON API: /pypi/<project>/json and /pypi/<project>/<version>/json, published only."""

from __future__ import annotations

import hashlib

import pytest

from releases.models import Project, Release
from tests.api.conftest import download, release_url

pytestmark = pytest.mark.django_db


def test_project_document_has_the_fields_tools_read(client, draft, published):
    response = client.get("/pypi/acme/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
    project = Project.objects.get(normalized_name="acme")
    assert data["last_serial"] == project.last_serial
    assert response["X-PyPI-Last-Serial"] == str(project.last_serial)
    assert data["vulnerabilities"] == []
    info = data["info"]
    for key in [
        "name",
        "version",
        "summary",
        "requires_python",
        "requires_dist",
        "classifiers",
        "project_urls",
        "package_url",
        "release_url",
        "yanked",
        "yanked_reason",
        "author",
        "license",
        "description",
    ]:
        assert key in info, key
    assert info["name"] == "acme"
    assert info["version"] == "1.0"
    assert info["summary"] == "A test package"
    assert info["requires_python"] == ">=3.8"
    assert info["release_url"] == "http://testserver/project/acme/1.0/"
    # The draft is nowhere.
    assert list(data["releases"]) == ["1.0"]
    assert draft.files.get().filename not in response.content.decode()
    assert '"2.0"' not in response.content.decode()


def test_file_entries_match_the_stored_file(client, published):
    data = client.get("/pypi/acme/json").json()
    stored = published.files.get()
    (entry,) = data["urls"]
    assert data["releases"]["1.0"] == [entry]
    assert entry["filename"] == stored.filename
    assert entry["digests"] == {
        "sha256": stored.sha256_digest,
        "md5": stored.md5_digest,
        "blake2b_256": stored.blake2_256_digest,
    }
    assert entry["md5_digest"] == stored.md5_digest
    assert entry["size"] == stored.size
    assert entry["packagetype"] == "bdist_wheel"
    assert entry["python_version"] == stored.python_version
    assert entry["requires_python"] == ">=3.8"
    assert entry["yanked"] is False
    assert entry["upload_time_iso_8601"].endswith("Z")
    assert entry["url"] == f"http://testserver/packages/{stored.path}"
    assert hashlib.sha256(download(client, entry["url"])).hexdigest() == entry["digests"]["sha256"]


def test_version_document(client, draft, published):
    response = client.get("/pypi/acme/1.0/json")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"info", "last_serial", "urls", "vulnerabilities"}
    assert data["info"]["version"] == "1.0"
    assert response["X-PyPI-Last-Serial"] == str(data["last_serial"])


def test_a_draft_version_is_404_like_a_missing_one(client, draft):
    response = client.get("/pypi/acme/2.0/json")
    missing = client.get("/pypi/acme/7.7/json")
    assert response.status_code == missing.status_code == 404
    assert response.json()["detail"].replace("2.0", "7.7") == missing.json()["detail"]


def test_a_project_with_only_drafts_is_404(client, project, uploader):
    assert uploader.upload("acme", "2.0", path="/legacy/draft/").status_code == 200
    assert client.get("/pypi/acme/json").status_code == 404
    assert client.get("/pypi/acme/2.0/json").status_code == 404


def test_publishing_the_draft_shows_it(client, alice_api, draft, published):
    serial_before = client.get("/pypi/acme/json").json()["last_serial"]
    assert alice_api.post(release_url("2.0") + "publish/").status_code == 200
    response = client.get("/pypi/acme/json")
    data = response.json()
    assert sorted(data["releases"]) == ["1.0", "2.0"]
    assert data["info"]["version"] == "2.0"
    assert data["last_serial"] > serial_before
    assert client.get("/pypi/acme/2.0/json").status_code == 200


def test_latest_version_skips_prereleases(client, project, uploader):
    for version in ["1.0", "2.0b1"]:
        assert uploader.upload("acme", version).status_code == 200
    data = client.get("/pypi/acme/json").json()
    assert data["info"]["version"] == "1.0"
    assert sorted(data["releases"]) == ["1.0", "2.0b1"]


def test_non_normalized_names_redirect(client, published):
    response = client.get("/pypi/ACME/json")
    assert response.status_code == 301
    assert response["Location"] == "/pypi/acme/json"
    response = client.get("/pypi/Acme/1.00/json")
    assert response.status_code == 301
    assert response["Location"] == "/pypi/acme/1.0/json"


def test_conditional_request_gets_304_until_something_changes(client, alice_api, draft, published):
    first = client.get("/pypi/acme/json")
    etag = first["ETag"]
    again = client.get("/pypi/acme/json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again["X-PyPI-Last-Serial"] == first["X-PyPI-Last-Serial"]
    alice_api.post(release_url("2.0") + "publish/")
    after = client.get("/pypi/acme/json", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert "2.0" in after.json()["releases"]


def test_yanking_changes_the_validator(client, published):
    etag = client.get("/pypi/acme/json")["ETag"]
    Release.objects.filter(pk=published.pk).update(yanked=True, yanked_reason="broken")
    response = client.get("/pypi/acme/json", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["urls"][0]["yanked"] is True


def test_json_api_is_read_only(client, published):
    assert client.post("/pypi/acme/json").status_code == 405
