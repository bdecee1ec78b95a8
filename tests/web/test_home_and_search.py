"""The first five minutes: the home page (recent releases, a search box, how to upload
here), `/search/`, and install commands that name this index."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from releases import selectors
from releases.services import draft_token
from tests.support.factories import make_draft, make_project, make_published

pytestmark = pytest.mark.django_db


def result_names(html: str) -> list[str]:
    block = re.search(r'<ul class="history search-results">(.*?)</ul>', html, re.S)
    return re.findall(r'<a href="/project/([^/]+)/">', block.group(1)) if block else []


@pytest.fixture
def catalogue(alice, dave):
    """Public projects with summaries, a public project with a draft, and a drafts-only one."""
    tools = make_project("acme-tools", owner=alice)
    make_published(tools, "0.3", by=alice, summary="Command line tools for rockets")
    make_draft(tools, "0.4", by=alice, summary="Hidden draft summary about zeppelins")
    widgets = make_project("widgets", owner=alice)
    make_published(widgets, "1.0", by=alice, summary="Widgets that launch rockets")
    make_published(widgets, "2.0", by=alice, summary="Widgets for dashboards")
    secret = make_project("zeppelin", owner=dave)
    make_draft(secret, "0.1", by=dave, summary="A zeppelin, not released yet")


def test_search_route_is_named():
    assert reverse("releases:search") == "/search/"


def test_search_finds_projects_by_name(client, catalogue):
    response = client.get("/search/", {"q": "acme"})
    assert response.status_code == 200
    html = response.content.decode()
    assert result_names(html) == ["acme-tools"]
    assert "0.3" in html and "0.4" not in html


def test_search_finds_projects_by_summary(client, catalogue):
    html = client.get("/search/", {"q": "rockets"}).content.decode()
    assert result_names(html) == ["acme-tools", "widgets"]
    # A project shows its latest published release's summary.
    assert "Widgets for dashboards" in html


def test_search_never_shows_drafts(client, catalogue):
    for query in ("zeppelin", "zeppelins", "Hidden draft", "not released"):
        html = client.get("/search/", {"q": query}).content.decode()
        assert result_names(html) == [], query
        assert "Hidden draft summary about" not in html and "not released yet" not in html.replace(query, "")
    assert selectors.search_projects("zeppelin") == []


def test_exact_name_comes_first(client, alice, catalogue):
    make_published(make_project("widgets-extra", owner=alice), "1.0", by=alice, summary="More widgets")
    make_published(make_project("bigwidgets", owner=alice), "1.0", by=alice)
    html = client.get("/search/", {"q": "Widgets"}).content.decode()
    assert result_names(html) == ["widgets", "widgets-extra", "bigwidgets"]


def test_an_empty_or_unmatched_query(client, catalogue):
    assert client.get("/search/").status_code == 200
    assert result_names(client.get("/search/", {"q": "   "}).content.decode()) == []
    html = client.get("/search/", {"q": "nothing-like-this"}).content.decode()
    assert "No project matches" in html
    assert client.get("/search/", {"q": "x" * 5000}).status_code == 200


def test_search_escapes_the_query(client, catalogue):
    html = client.get("/search/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_home_has_a_search_box_and_the_index_url(client, catalogue):
    html = client.get("/").content.decode()
    assert 'action="/search/"' in html and 'name="q"' in html
    assert "pip install --index-url http://testserver/simple/ NAME" in html
    # Recent releases: published only, newest first.
    assert html.index("widgets 2.0") < html.index("widgets 1.0")
    assert "acme-tools 0.3" in html
    assert "0.4" not in html and "zeppelin" not in html
    # How to upload here is for signed-in people.
    assert "twine upload" not in html


def test_home_shows_twenty_recent_releases(client, project, alice):
    for minor in range(22):
        make_published(project, f"1.{minor}", by=alice)
    html = client.get("/").content.decode()
    assert "acme 1.21" in html and "acme 1.2<" in html
    assert "acme 1.1<" not in html and "acme 1.0<" not in html


def test_home_tells_a_signed_in_maintainer_how_to_upload(as_alice):
    html = as_alice.get("/").content.decode()
    assert "Upload here" in html
    assert '<code id="upload-url">http://testserver/legacy/</code>' in html
    assert "twine upload --repository-url http://testserver/legacy/ -u __token__" in html
    assert "uv publish --publish-url http://testserver/legacy/" in html
    assert "http://testserver/legacy/draft/" in html
    assert 'href="/manage/tokens/"' in html


def test_public_pages_install_from_this_index_with_a_copy_button(client, draft, published):
    for path in ("/project/acme/", "/project/acme/1.0/"):
        html = client.get(path).content.decode()
        assert '<code id="pip-command">pip install --index-url http://testserver/simple/ acme==1.0</code>' in html
        assert '<code id="uv-command">uv pip install --index-url http://testserver/simple/ acme==1.0</code>' in html
        assert 'data-copy-target="pip-command"' in html and 'data-copy-target="uv-command"' in html
        assert '<script src="/static/pypidraft/site.js" defer></script>' in html


def test_the_preview_installs_from_the_drafts_index(client, draft):
    token = draft_token(draft)
    html = client.get(f"/project/acme/2.0--draft--{token}/").content.decode()
    assert (
        f'<code id="pip-command">pip install --extra-index-url http://testserver/simple/draft/{token}/ acme==2.0'
        in html
    )
    assert 'data-copy-target="uv-command"' in html
    assert "--index-url http://testserver/simple/ " not in html


def test_the_etag_depends_on_the_host(client, published):
    one = client.get("/project/acme/", HTTP_HOST="testserver")
    other = client.get("/project/acme/", HTTP_HOST="localhost")
    assert one["ETag"] != other["ETag"]
    assert "--index-url http://localhost/simple/ acme==1.0" in other.content.decode()
