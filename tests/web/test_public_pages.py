"""Public project and release pages, and the draft preview that shares their layout."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from releases import views
from releases.models import AuditEvent, Release
from releases.services import Actor, draft_token, publish_release
from tests.support.factories import make_draft, make_published

pytestmark = pytest.mark.django_db


def preview_path(release: Release) -> str:
    return f"/project/acme/{release.version}--draft--{draft_token(release)}/"


def test_project_page_shows_the_latest_published_release(client, draft, published):
    response = client.get("/project/acme/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "acme 1.0" in html and "pip install --index-url http://testserver/simple/ acme==1.0" in html
    assert published.files.count() == 1
    for f in published.files.all():
        assert f.filename in html and f.sha256_digest in html and f.blake2_256_digest in html


def test_history_lists_published_releases_only(client, draft, published):
    html = client.get("/project/acme/").content.decode()
    assert "/project/acme/1.0/" in html
    assert "2.0" not in html
    assert draft.files.first().filename not in html


def test_a_drafts_version_page_is_404(client, draft):
    assert client.get("/project/acme/2.0/").status_code == 404


def test_a_project_with_only_drafts_is_404(client, secret_draft):
    assert client.get("/project/secret/").status_code == 404
    assert client.get("/project/secret/0.1/").status_code == 404


def test_even_role_holders_do_not_see_drafts_on_public_pages(as_alice, draft):
    html = as_alice.get("/project/acme/").content.decode()
    assert "2.0" not in html
    assert "/manage/projects/acme/" in html  # but they get a link to manage it


def test_anonymous_visitors_get_no_manage_link(client, published):
    assert "/manage/projects/acme/" not in client.get("/project/acme/").content.decode()


def test_release_page_of_an_older_version_points_to_the_latest(client, project, alice, published):
    make_published(project, "1.1", by=alice)
    html = client.get("/project/acme/1.0/").content.decode()
    assert "A newer version is available" in html and "/project/acme/1.1/" in html
    assert "pip install --index-url http://testserver/simple/ acme==1.0" in html


def test_prereleases_are_not_the_default_version(client, project, alice, published):
    make_published(project, "2.0b1", by=alice)
    html = client.get("/project/acme/").content.decode()
    assert "pip install --index-url http://testserver/simple/ acme==1.0" in html and "/project/acme/2.0b1/" in html


def test_non_normalized_names_redirect(client, published):
    response = client.get("/project/ACME/")
    assert response.status_code == 301 and response["Location"] == "/project/acme/"
    response = client.get("/project/Acme/1.0/")
    assert response.status_code == 301 and response["Location"] == "/project/acme/1.0/"


def test_only_http_links_from_metadata_become_links(client, project, alice):
    make_published(
        project,
        "1.0",
        by=alice,
        home_page="javascript:alert(1)",
        project_urls={"Docs": "https://docs.example.org/", "Bad": "data:text/html,<script>alert(1)</script>"},
    )
    html = client.get("/project/acme/").content.decode()
    assert 'href="https://docs.example.org/"' in html
    assert 'href="javascript:' not in html and 'href="data:' not in html
    assert "&lt;script&gt;" in html


def test_preview_shows_the_draft_with_install_commands(client, draft):
    response = client.get(preview_path(draft))
    html = response.content.decode()
    token = draft_token(draft)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert "badge-draft" in html
    assert f"pip install --extra-index-url http://testserver/simple/draft/{token}/ acme==2.0" in html
    assert f"uv pip install --extra-index-url http://testserver/simple/draft/{token}/ acme==2.0" in html
    assert draft.files.count() == 2
    for f in draft.files.all():
        assert f.filename in html


def test_preview_history_lists_published_releases_only(client, draft, published, project, alice, settings):
    settings.PYPIDRAFT_MAX_DRAFTS_PER_PROJECT = 2
    other = make_draft(project, "3.0", by=alice)
    html = client.get(preview_path(draft)).content.decode()
    assert "/project/acme/1.0/" in html
    assert other.version not in html


def test_preview_with_a_wrong_token_or_version_is_404(client, draft):
    assert client.get("/project/acme/2.0--draft--nottherightone/").status_code == 404
    assert client.get(f"/project/acme/1.0--draft--{draft_token(draft)}/").status_code == 404
    assert client.get(f"/project/other/2.0--draft--{draft_token(draft)}/").status_code == 404


def test_preview_of_a_published_draft_redirects_to_the_public_page(client, draft, alice):
    path = preview_path(draft)
    publish_release(release=draft, actor=Actor(user=alice, channel=AuditEvent.WEB))
    response = client.get(path)
    assert response.status_code == 301 and response["Location"] == "/project/acme/2.0/"


def test_public_pages_revalidate_and_change_when_a_draft_is_published(client, draft, alice):
    first = client.get("/project/acme/")
    etag = first["ETag"]
    assert first["Cache-Control"] == "max-age=0, must-revalidate"
    assert "Cookie" in first["Vary"]
    assert client.get("/project/acme/", headers={"If-None-Match": etag}).status_code == 304

    publish_release(release=draft, actor=Actor(user=alice, channel=AuditEvent.WEB))
    fresh = client.get("/project/acme/", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh["ETag"] != etag
    assert "acme 2.0" in fresh.content.decode()


def test_release_pages_have_their_own_validator(client, published):
    project_etag = client.get("/project/acme/")["ETag"]
    release = client.get("/project/acme/1.0/")
    assert release["ETag"] != project_etag
    assert client.get("/project/acme/1.0/", headers={"If-None-Match": release["ETag"]}).status_code == 304


def test_pages_for_signed_in_people_are_private(as_alice, published):
    response = as_alice.get("/project/acme/")
    assert response["Cache-Control"] == "private, no-cache"
    assert not response.has_header("ETag")


def test_home_lists_recently_published_releases(draft, published):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    html = views.home(request).content.decode()
    assert "acme 1.0" in html and "acme 2.0" not in html
