"""The stored-page fast path answers exactly like the views, and never with stale bytes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simpleindex.fastpath import PageCache
from tests.support.distributions import make_wheel, upload_fields
from tests.support.factories import make_published

pytestmark = pytest.mark.django_db
JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def published(alice):
    make_published("acme", "1.0", by=alice)


@pytest.mark.parametrize(
    ("path", "fmt", "accept"),
    [("/simple/acme/", "json", JSON), ("/simple/", "html", "text/html; q=0.5, application/vnd.pypi.simple.v1+html")],
)
def test_fast_path_matches_the_views_byte_for_byte(client, published, path, fmt, accept):
    # A query string always takes the views' path; the Accept header takes the fast path.
    assert client.get(path, HTTP_ACCEPT=accept).status_code == 200  # renders and stores
    fast = client.get(path, HTTP_ACCEPT=accept)
    slow = client.get(f"{path}?format={fmt}")
    assert fast.content == slow.content
    assert dict(fast.headers) == dict(slow.headers)
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "ETag", "X-PyPI-Last-Serial"):
        assert fast[name]


def test_memory_hit_costs_one_query(client, published):
    for _ in range(3):
        client.get("/simple/acme/", HTTP_ACCEPT=JSON)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/simple/acme/", HTTP_ACCEPT=JSON)
    assert response.status_code == 200
    assert len(queries) == 1


def test_fast_path_answers_conditional_requests(client, published):
    client.get("/simple/acme/", HTTP_ACCEPT=JSON)
    etag = client.get("/simple/acme/", HTTP_ACCEPT=JSON)["ETag"]
    assert client.get("/simple/acme/", HTTP_ACCEPT=JSON, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_fast_path_leaves_unknown_and_draft_pages_to_the_views(client, published, uploader):
    assert client.get("/simple/nope/").status_code == 404
    filename, data = make_wheel("draftonly", "1.0")
    response = uploader.post(
        upload_fields("draftonly", "1.0", filename, data), filename=filename, data=data, path="/legacy/draft/"
    )
    assert response.status_code == 200
    assert client.get("/simple/draftonly/").status_code == 404


def test_head_request_has_no_body(client, published):
    client.get("/simple/acme/")
    response = client.head("/simple/acme/")
    assert response.status_code == 200
    assert response.content == b""


def test_page_cache_evicts_least_recently_used():
    cache = PageCache(max_bytes=10)
    cache.put(("a", "j"), 1, b"12345")
    cache.put(("b", "j"), 1, b"12345")
    assert cache.get(("a", "j"), 1) == b"12345"  # a is now the most recent
    cache.put(("c", "j"), 1, b"12345")
    assert cache.get(("b", "j"), 1) is None
    assert cache.get(("a", "j"), 1) == b"12345"
    assert cache.get(("a", "j"), 2) is None  # another serial is a miss
    assert cache.size == 10


@pytest.mark.parametrize("path", ["/simple/", "/simple/acme/"])
def test_fast_path_refuses_a_host_outside_allowed_hosts(client, published, path):
    assert client.get(path, HTTP_ACCEPT=JSON).status_code == 200  # stored: the fast path would answer
    assert client.get(path, HTTP_ACCEPT=JSON, HTTP_HOST="evil.example").status_code == 400
    assert client.head(path, HTTP_HOST="evil.example").status_code == 400


@pytest.mark.parametrize("path", ["/legacy/", "/legacy/draft/"])
def test_upload_fast_path_refuses_a_host_outside_allowed_hosts_before_storing(uploader, project, path):
    from releases.models import File, Release

    filename, data = make_wheel("acme", "1.0")
    response = uploader.post(
        upload_fields("acme", "1.0", filename, data),
        filename=filename,
        data=data,
        path=path,
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 400
    assert not Release.objects.exists() and not File.objects.exists()
