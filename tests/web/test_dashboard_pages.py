"""/manage/: projects with draft counts, a project's releases (drafts first), a release's
page; who may see what. Outsiders never see another project's drafts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from releases.models import Release
from releases.services import draft_token
from tests.support.factories import make_draft, make_published
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db

WHO = ["alice", "bob", "charlie", "staff", "anonymous"]


@pytest.fixture
def as_user(alice, bob, charlie, staff):
    users = {"alice": alice, "bob": bob, "charlie": charlie, "staff": staff}

    def make(who: str) -> Client:
        return Client() if who == "anonymous" else signed_in(users[who])

    return make


def status_for(who: str, *, owner: int = 200, maintainer: int = 200) -> int:
    # Staff without a role act through Django admin: the dashboard does not show them
    # the project at all, like any outsider.
    return {"alice": owner, "bob": maintainer, "charlie": 404, "staff": 404, "anonymous": 302}[who]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    "path",
    [
        "/manage/projects/acme/",
        "/manage/projects/acme/releases/2.0/",
        "/manage/projects/acme/releases/1.0/",
        "/manage/projects/acme/releases/2.0/publish/",
        "/manage/projects/acme/releases/2.0/discard/",
        "/manage/projects/acme/releases/2.0/rotate/",
    ],
)
def test_project_pages_by_role(as_user, draft, who, path):
    response = as_user(who).get(path)
    assert response.status_code == status_for(who)
    if response.status_code == 200:
        assert response["Cache-Control"] == "private, no-store"
    else:
        assert draft_token(draft) not in response.content.decode()


@pytest.mark.parametrize("who", WHO)
def test_settings_page_by_role(as_user, draft, who):
    response = as_user(who).get("/manage/projects/acme/settings/")
    assert response.status_code == status_for(who, maintainer=403)


def test_index_lists_my_projects_with_draft_counts(as_alice, draft, secret_draft):
    response = as_alice.get("/manage/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/manage/projects/acme/" in html
    assert "1 draft" in html
    assert "secret" not in html


def test_index_of_a_maintainer(as_bob, draft):
    html = as_bob.get("/manage/").content.decode()
    assert "acme" in html and "Maintainer" in html


def test_index_of_an_outsider_shows_no_project(as_charlie, draft, secret_draft):
    html = as_charlie.get("/manage/").content.decode()
    assert "acme" not in html and "secret" not in html
    assert "You have no projects yet" in html


def test_index_counts_several_drafts(as_alice, project, alice, settings):
    settings.PYPIDRAFT_MAX_DRAFTS_PER_PROJECT = 3
    for version in ("3.0", "3.1", "3.2"):
        make_draft(project, version, by=alice)
    assert "3 drafts" in as_alice.get("/manage/").content.decode()


def test_drafts_come_first_then_published_newest_first(as_alice, project, alice):
    now = timezone.now()
    old = make_published(project, "0.9", by=alice, created=now - timedelta(days=9))
    Release.objects.filter(pk=old.pk).update(published=now - timedelta(days=8))
    new = make_published(project, "1.1", by=alice, created=now - timedelta(days=2))
    Release.objects.filter(pk=new.pk).update(published=now - timedelta(days=1))
    make_draft(project, "2.0rc1", by=alice, created=now - timedelta(days=10))
    html = as_alice.get("/manage/projects/acme/").content.decode()
    versions = re.findall(r'data-version="([^"]+)"', html)
    assert versions == ["2.0rc1", "1.1", "0.9"]


def test_project_page_shows_columns_and_draft_actions(as_bob, draft):
    html = as_bob.get("/manage/projects/acme/").content.decode()
    for column in ("Version", "Status", "Created", "Published", "Files", "Uploader"):
        assert f"<th>{column}</th>" in html
    token = draft_token(draft)
    assert f"http://testserver/simple/draft/{token}/" in html
    assert f"http://testserver/project/acme/2.0--draft--{token}/" in html
    assert 'data-copy-target="draft-index-' in html
    assert "/manage/projects/acme/releases/2.0/publish/" in html
    assert "/manage/projects/acme/releases/2.0/discard/" in html
    assert "/manage/projects/acme/releases/2.0/rotate/" in html
    # bob is a maintainer: no settings link for him.
    assert "/manage/projects/acme/settings/" not in html


def test_owner_sees_the_settings_link(as_alice, draft):
    assert "/manage/projects/acme/settings/" in as_alice.get("/manage/projects/acme/").content.decode()


def test_expired_draft_is_marked_and_offers_only_discard(as_alice, draft, settings):
    Release.objects.filter(pk=draft.pk).update(
        created=timezone.now() - timedelta(days=settings.PYPIDRAFT_DRAFT_TTL_DAYS + 1)
    )
    html = as_alice.get("/manage/projects/acme/").content.decode()
    assert "Expired" in html
    assert "/simple/draft/" not in html
    assert "/manage/projects/acme/releases/2.0/discard/" in html
    assert "/manage/projects/acme/releases/2.0/publish/" not in html


def test_release_page_lists_files_and_actions(as_alice, draft):
    html = as_alice.get("/manage/projects/acme/releases/2.0/").content.decode()
    assert draft.files.count() == 2
    for f in draft.files.all():
        assert f.filename in html and f.sha256_digest in html
    assert "/manage/projects/acme/releases/2.0/publish/" in html
    assert f"--extra-index-url http://testserver/simple/draft/{draft_token(draft)}/ acme==2.0" in html


def test_published_release_page_has_no_draft_actions(as_alice, published):
    html = as_alice.get("/manage/projects/acme/releases/1.0/").content.decode()
    assert "Published" in html
    assert "/publish/" not in html and "/discard/" not in html


def test_outsider_cannot_reach_another_projects_draft(as_alice, secret_draft):
    for path in (
        "/manage/projects/secret/",
        "/manage/projects/secret/releases/0.1/",
        "/manage/projects/secret/releases/0.1/publish/",
    ):
        response = as_alice.get(path)
        assert response.status_code == 404
        assert draft_token(secret_draft) not in response.content.decode()


def test_unknown_release_is_404(as_alice, draft):
    assert as_alice.get("/manage/projects/acme/releases/9.9/").status_code == 404


def test_non_normalized_project_name_redirects(as_alice, draft):
    response = as_alice.get("/manage/projects/ACME/")
    assert response.status_code == 302 and response["Location"] == "/manage/projects/acme/"
