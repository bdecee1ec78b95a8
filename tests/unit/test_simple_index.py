"""The simple index: PEP 503 HTML and PEP 691 JSON from one builder, negotiated, cacheable."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import Project
from simpleindex import builder
from simpleindex.models import RenderedPage
from tests.support.distributions import make_wheel, upload_fields
from tests.support.factories import make_published

pytestmark = pytest.mark.django_db

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"


@pytest.fixture
def published(alice) -> Project:
    """acme 1.0 with a wheel and an sdist, published."""
    return make_published("acme", "1.0", by=alice, sdist=True).project


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html", "text/html"),
        (JSON, JSON),
        (HTML, HTML),
        ("application/vnd.pypi.simple.latest+json", JSON),
        ("application/vnd.pypi.simple.latest+html", HTML),
        # What pip sends: JSON preferred, HTML as fallbacks.
        (f"{JSON}, {HTML}; q=0.1, text/html; q=0.01", JSON),
        (f"{JSON}; q=0.2, {HTML}; q=0.9", HTML),
        (f"text/html; q=0.5, {JSON}; q=0.4", "text/html"),
        (f"{JSON}; q=0, text/html", "text/html"),
        ("application/*", HTML),
    ],
)
def test_content_negotiation(client, published, accept, expected):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/simple/acme/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == expected
    assert response["Vary"] == "Accept"


def test_unacceptable_type_is_406(client, published):
    response = client.get("/simple/acme/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert JSON in response.content.decode()


@pytest.mark.parametrize(("fmt", "expected"), [("json", JSON), ("html", HTML)])
def test_format_query_parameter_overrides_accept(client, published, fmt, expected):
    response = client.get(f"/simple/acme/?format={fmt}", HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == expected


def test_json_page_follows_pep_691_and_700(client, published):
    data = client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()
    assert data["meta"]["api-version"] == "1.1"
    assert data["name"] == "acme"
    assert data["versions"] == ["1.0"]
    assert [f["filename"] for f in data["files"]] == ["acme-1.0-py3-none-any.whl", "acme-1.0.tar.gz"]
    wheel, sdist = data["files"]
    assert set(wheel) >= {
        "filename",
        "url",
        "hashes",
        "requires-python",
        "core-metadata",
        "yanked",
        "size",
        "upload-time",
    }
    assert wheel["requires-python"] == ">=3.8"
    assert re.fullmatch(r"[0-9a-f]{64}", wheel["core-metadata"]["sha256"])
    assert wheel["dist-info-metadata"] == wheel["core-metadata"]
    assert sdist["core-metadata"] is False
    assert wheel["yanked"] is False
    assert wheel["upload-time"].endswith("Z")
    assert wheel["url"].startswith("/packages/")


def test_html_page_has_pep_503_629_658_attributes(client, published):
    html = client.get("/simple/acme/").content.decode()
    assert '<meta name="pypi:repository-version" content="1.1">' in html
    assert 'data-requires-python="&gt;=3.8"' in html
    assert re.search(r'data-core-metadata="sha256=[0-9a-f]{64}"', html)
    assert re.search(r'data-dist-info-metadata="sha256=[0-9a-f]{64}"', html)
    assert len(re.findall(r'href="/packages/[^"]+#sha256=[0-9a-f]{64}"', html)) == 2


def test_every_link_hash_matches_the_downloaded_bytes(client, published, settings):
    html = client.get("/simple/acme/").content.decode()
    links = re.findall(r'href="([^"#]+)#sha256=([0-9a-f]{64})"', html)
    assert len(links) == 2
    for url, digest in links:
        response = client.get(url)
        if settings.PYPIDRAFT_STORAGE == "s3":
            assert response.status_code == 302
            import urllib.request

            body = urllib.request.urlopen(response["Location"]).read()
        else:
            body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == digest


def test_core_metadata_file_is_served_with_its_digest(client, published):
    wheel = client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["files"][0]
    response = client.get(wheel["url"] + ".metadata")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == wheel["core-metadata"]["sha256"]
    assert b"Name: acme" in response.content


def test_non_normalized_name_redirects_with_query(client, published):
    response = client.get("/simple/ACME/?format=json")
    assert response.status_code == 301
    assert response["Location"] == "/simple/acme/?format=json"


def test_unknown_project_is_404(client, db):
    assert client.get("/simple/nope/").status_code == 404


def test_root_lists_public_projects(client, published):
    html = client.get("/simple/").content.decode()
    assert '<a href="acme/">acme</a>' in html
    data = client.get("/simple/", HTTP_ACCEPT=JSON).json()
    assert data["projects"] == [{"name": "acme", "_last-serial": published.last_serial}]
    assert data["meta"]["_last-serial"] >= 1


def test_serial_header_and_etag_give_304(client, published):
    response = client.get("/simple/acme/", HTTP_ACCEPT=JSON)
    assert response["X-PyPI-Last-Serial"] == str(published.last_serial)
    assert response.json()["meta"]["_last-serial"] == published.last_serial
    etag = response["ETag"]
    again = client.get("/simple/acme/", HTTP_ACCEPT=JSON, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    # The HTML rendering has its own validator.
    assert client.get("/simple/acme/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_new_public_upload_changes_the_validators(client, uploader, published):
    etag = client.get("/simple/acme/")["ETag"]
    root_etag = client.get("/simple/")["ETag"]
    filename, data = make_wheel("acme", "1.1")
    assert uploader.post(upload_fields("acme", "1.1", filename, data), filename=filename, data=data).status_code == 200
    response = client.get("/simple/acme/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert "acme-1.1-py3-none-any.whl" in response.content.decode()
    assert client.get("/simple/", HTTP_IF_NONE_MATCH=root_etag).status_code == 200


def test_query_count_does_not_grow_with_files(client, uploader, alice):
    def count_queries() -> int:
        RenderedPage.objects.all().delete()  # measure a full rendering, not the stored one
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/simple/acme/", HTTP_ACCEPT=JSON).status_code == 200
        return len(queries)

    filename, data = make_wheel("acme", "1.0")
    uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    few = count_queries()
    for tag in ("py2-none-any", "cp311-cp311-linux_x86_64", "cp312-cp312-linux_x86_64", "cp313-abi3-win_amd64"):
        filename, data = make_wheel("acme", "1.0", tag=tag)
        assert (
            uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data).status_code == 200
        )
    for version in ("1.1", "1.2", "2.0"):
        filename, data = make_wheel("acme", version)
        assert (
            uploader.post(upload_fields("acme", version, filename, data), filename=filename, data=data).status_code
            == 200
        )
    assert len(client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["files"]) == 8
    assert count_queries() == few


def test_root_query_count_does_not_grow_with_projects(client, uploader, alice):
    def count_queries() -> int:
        RenderedPage.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/simple/").status_code == 200
        return len(queries)

    filename, data = make_wheel("acme", "1.0")
    uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    few = count_queries()
    for name in ("beta", "gamma", "delta"):
        filename, data = make_wheel(name, "1.0")
        assert (
            uploader.post(upload_fields(name, "1.0", filename, data), filename=filename, data=data).status_code == 200
        )
    assert count_queries() == few


@pytest.mark.parametrize("path", ["/simple/", "/simple/acme/"])
def test_stored_rendering_is_served_in_two_queries(client, published, path):
    first = client.get(path, HTTP_ACCEPT=JSON)
    with CaptureQueriesContext(connection) as queries:
        second = client.get(path, HTTP_ACCEPT=JSON)
    assert second.content == first.content
    assert len(queries) == 2


def test_stored_rendering_is_never_served_stale(client, uploader, published):
    assert "1.1" not in client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["versions"]
    assert "1.1" not in client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["versions"]  # now stored
    filename, data = make_wheel("acme", "1.1")
    assert uploader.post(upload_fields("acme", "1.1", filename, data), filename=filename, data=data).status_code == 200
    assert client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["versions"] == ["1.0", "1.1"]
    assert "beta" not in client.get("/simple/").content.decode()
    filename, data = make_wheel("beta", "1.0")
    assert uploader.post(upload_fields("beta", "1.0", filename, data), filename=filename, data=data).status_code == 200
    assert '<a href="beta/">beta</a>' in client.get("/simple/").content.decode()


def test_builder_renders_yanked_files():
    row = {
        "filename": "acme-1.0.tar.gz",
        "path": "aa/bb/cc/acme-1.0.tar.gz",
        "sha256_digest": "0" * 64,
        "size": 10,
        "upload_time": __import__("datetime").datetime(2026, 1, 1),
        "requires_python": "",
        "metadata_sha256": None,
        "release__version": "1.0",
        "release__yanked": True,
        "release__yanked_reason": "broken <build>",
    }
    data = builder.project_data(
        name="acme",
        serial=5,
        versions=["1.0"],
        files=[row],
        urls=builder.FileUrls(file_url=lambda r: "/packages/" + r["path"]),
    )
    assert data["files"][0]["yanked"] == "broken <build>"
    html = builder.render(data, builder.TEXT_HTML, template="simpleindex/project.html").decode()
    assert 'data-yanked="broken &lt;build&gt;"' in html
    assert json.loads(builder.render(data, builder.JSON_V1, template="simpleindex/project.html"))["files"][0]["yanked"]
