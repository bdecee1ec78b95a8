"""Draft releases: three ways in, invisible to the public, reachable by token only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releases.errors import ReleaseStateError
from releases.models import AuditEvent, BurnedFilename, File, JournalEntry, Project, Release
from releases.services import Actor, discard_draft, draft_token, publish_release, rotate_draft_token
from releases.storage import object_exists
from tests.support.distributions import make_sdist, make_wheel, upload_fields
from tests.support.factories import make_draft

pytestmark = pytest.mark.django_db
JSON = "application/vnd.pypi.simple.v1+json"


def upload(uploader, name="acme", version="1.0", *, path="/legacy/draft/", wheel=None, **kwargs):
    filename, data = wheel or make_wheel(name, version)
    return uploader.post(
        upload_fields(name, version, filename, data), filename=filename, data=data, path=path, **kwargs
    )


def token_from(response) -> str:
    match = re.search(r"/simple/draft/([a-z0-9]+)/", response.content.decode())
    assert match, response.content
    return match.group(1)


@pytest.fixture
def draft(alice):
    """acme 1.0, a draft of alice's (the upload creates acme, with alice its owner)."""
    return make_draft("acme", "1.0", by=alice)


def web_actor(user) -> Actor:
    return Actor(user=user, channel=AuditEvent.WEB)


# --- ways in ---------------------------------------------------------------------------------


def test_draft_endpoint_makes_a_draft(uploader, alice):
    assert upload(uploader).status_code == 200
    draft = Release.objects.get(project__normalized_name="acme", version="1.0")
    assert draft.is_draft
    assert draft.draft_token_hash and draft.draft_nonce


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_is_draft_header_makes_a_draft(uploader, alice, value):
    assert upload(uploader, path="/legacy/", headers={"Is-Draft": value}).status_code == 200
    assert Release.objects.get().is_draft


@pytest.mark.parametrize("value", ["false", "0"])
def test_is_draft_false_publishes(uploader, alice, value):
    assert upload(uploader, path="/legacy/", headers={"Is-Draft": value}).status_code == 200
    assert not Release.objects.get().is_draft


@pytest.mark.parametrize("value", ["yes", "", "2", "draft"])
def test_invalid_is_draft_header_is_400(uploader, alice, value):
    response = upload(uploader, path="/legacy/", headers={"Is-Draft": value})
    assert response.status_code == 400
    assert "Invalid Is-Draft header" in response.content.decode()
    assert not Release.objects.exists()


def test_project_without_auto_publish_makes_drafts(uploader, project):
    Project.objects.filter(pk=project.pk).update(auto_publish_releases=False)
    assert upload(uploader, path="/legacy/").status_code == 200
    assert Release.objects.get().is_draft


def test_later_uploads_go_into_the_draft_whatever_the_way_in(uploader, draft):
    assert upload(uploader, path="/legacy/", wheel=make_sdist("acme", "1.0")).status_code == 200
    draft.refresh_from_db()
    assert draft.is_draft
    assert draft.files.count() == 2


def test_is_draft_for_a_published_version_is_400(uploader, alice):
    assert upload(uploader, path="/legacy/").status_code == 200
    response = upload(uploader, path="/legacy/draft/", wheel=make_sdist("acme", "1.0"))
    assert response.status_code == 400
    assert "already published" in response.content.decode()


def test_upload_response_gives_draft_index_and_preview(uploader, alice):
    response = upload(uploader)
    body = response.content.decode()
    token = token_from(response)
    assert f"http://testserver/simple/draft/{token}/" in body
    assert f"http://testserver/project/acme/1.0--draft--{token}/" in body
    assert token == draft_token(Release.objects.get())


# --- invisibility ------------------------------------------------------------------------------


def test_draft_is_invisible_to_the_public(client, draft):
    assert client.get("/simple/acme/").status_code == 404
    assert client.get("/simple/acme/", HTTP_ACCEPT=JSON).status_code == 404
    assert "acme" not in client.get("/simple/").content.decode()
    assert client.get("/simple/", HTTP_ACCEPT=JSON).json()["projects"] == []
    assert client.get("/project/acme/").status_code == 404
    assert client.get("/project/acme/1.0/").status_code == 404
    assert not JournalEntry.objects.exists()


def test_draft_of_a_public_project_is_invisible(client, uploader, alice):
    assert upload(uploader, version="0.9", path="/legacy/").status_code == 200
    serial = client.get("/simple/acme/")["X-PyPI-Last-Serial"]
    etag = client.get("/simple/acme/")["ETag"]
    assert upload(uploader, version="1.0").status_code == 200
    page = client.get("/simple/acme/", HTTP_ACCEPT=JSON)
    assert page.json()["versions"] == ["0.9"]
    assert page["X-PyPI-Last-Serial"] == serial
    assert client.get("/simple/acme/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert client.get("/project/acme/1.0/").status_code == 404
    assert "1.0" not in client.get("/project/acme/").content.decode().replace("0.9", "")
    assert not JournalEntry.objects.filter(version="1.0").exists()


def test_draft_only_project_name_is_reserved(uploader, draft, charlie):
    response = upload(uploader, version="2.0", path="/legacy/", user="charlie")
    assert response.status_code == 403


def test_draft_file_is_not_reachable_through_public_urls(client, draft):
    stored = draft.files.get()
    assert client.get(f"/packages/{stored.path}").status_code == 404
    assert client.get(f"/packages/{stored.path}.metadata").status_code == 404


# --- the draft's own index ---------------------------------------------------------------------


def test_draft_index_serves_only_that_draft(client, uploader, alice):
    assert upload(uploader, version="0.9", path="/legacy/").status_code == 200
    response = upload(uploader, version="1.0")
    token = token_from(response)
    page = client.get(f"/simple/draft/{token}/acme/", HTTP_ACCEPT=JSON)
    assert page.status_code == 200
    assert page.json()["versions"] == ["1.0"]
    assert [f["filename"] for f in page.json()["files"]] == ["acme-1.0-py3-none-any.whl"]
    assert page["Cache-Control"] == "private, no-store"
    assert page["X-Robots-Tag"].startswith("noindex")
    assert page["Referrer-Policy"] == "no-referrer"
    assert "ETag" not in page
    root = client.get(f"/simple/draft/{token}/", HTTP_ACCEPT=JSON)
    assert [p["name"] for p in root.json()["projects"]] == ["acme"]
    assert client.get(f"/simple/draft/{token}/other/").status_code == 404
    assert client.get(f"/simple/draft/{token}/ACME/").status_code == 301


def test_draft_file_downloads_under_its_token(client, draft, settings):
    token = draft_token(draft)
    page = client.get(f"/simple/draft/{token}/acme/", HTTP_ACCEPT=JSON).json()
    url = page["files"][0]["url"]
    assert url.startswith(f"/simple/draft/{token}/packages/")
    response = client.get(url)
    assert response.status_code == (302 if settings.PYPIDRAFT_STORAGE == "s3" else 200)
    assert response["Cache-Control"] == "private, no-store"
    metadata = client.get(url + ".metadata")
    assert metadata.status_code == 200
    assert b"Name: acme" in metadata.content


@pytest.mark.parametrize("kind", ["wrong", "rotated", "expired"])
def test_bad_tokens_all_404_alike(client, draft, alice, kind):
    token = draft_token(draft)
    if kind == "wrong":
        token = token[:-4] + "aaaa"
    elif kind == "rotated":
        rotate_draft_token(release=draft, actor=web_actor(alice))
    else:
        Release.objects.filter(pk=draft.pk).update(created=timezone.now() - timedelta(days=31))
    for url in (f"/simple/draft/{token}/", f"/simple/draft/{token}/acme/", f"/project/acme/1.0--draft--{token}/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"acme 1.0" not in response.content


def test_rotated_token_gives_a_working_new_link(client, draft, alice):
    new = rotate_draft_token(release=draft, actor=web_actor(alice))
    assert client.get(f"/simple/draft/{new}/acme/").status_code == 200
    assert AuditEvent.objects.filter(action="rotate draft token").exists()


def test_token_is_random_and_not_derived_from_name_and_version(uploader, alice):
    first = token_from(upload(uploader))
    discard_draft(release=Release.objects.get(), actor=web_actor(alice))
    second = token_from(upload(uploader))
    assert first != second
    assert len(first) >= 32  # 256 bits in base32
    # The database alone does not hold the token.
    release = Release.objects.get()
    assert second not in (release.draft_nonce, release.draft_token_hash)


def test_preview_page_shows_badge_and_install_commands(client, draft):
    token = draft_token(draft)
    response = client.get(f"/project/acme/1.0--draft--{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Draft" in html
    index = f"http://testserver/simple/draft/{token}/"
    assert f"pip install --extra-index-url {index} acme==1.0" in html
    assert f"uv pip install --extra-index-url {index}" in html
    assert draft.files.get().sha256_digest in html
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"


# --- mutable drafts ----------------------------------------------------------------------------


def test_reupload_into_draft_replaces_the_file_and_old_object(uploader, draft):
    old = draft.files.get()
    changed = make_wheel("acme", "1.0", module_source="__version__ = '1.0'\nCHANGED = True\n")
    response = upload(uploader, wheel=changed)
    assert response.status_code == 200
    assert "Replaced" in response.content.decode()
    new = draft.files.get()
    assert new.sha256_digest != old.sha256_digest
    assert new.filename == old.filename
    assert object_exists(new.path)
    assert not object_exists(old.path)


def test_reupload_refreshes_release_metadata(uploader, draft):
    filename, data = make_sdist("acme", "1.0")
    fields = upload_fields("acme", "1.0", filename, data, summary="A better summary")
    assert uploader.post(fields, filename=filename, data=data, path="/legacy/draft/").status_code == 200
    draft.refresh_from_db()
    assert draft.summary == "A better summary"


def test_filenames_used_only_in_a_draft_are_not_burned(uploader, draft, alice):
    discard_draft(release=draft, actor=web_actor(alice))
    changed = make_wheel("acme", "1.0", module_source="x = 1\n")
    assert upload(uploader, wheel=changed).status_code == 200
    assert not BurnedFilename.objects.exists()


# --- publish -----------------------------------------------------------------------------------


def test_publish_makes_the_release_public_everywhere(client, draft, alice):
    token = draft_token(draft)
    publish_release(release=draft, actor=web_actor(alice))
    draft.refresh_from_db()
    assert draft.published is not None
    assert draft.draft_token_hash is None and draft.draft_nonce is None
    assert client.get("/simple/acme/", HTTP_ACCEPT=JSON).json()["versions"] == ["1.0"]
    assert client.get("/project/acme/1.0/").status_code == 200
    actions = list(JournalEntry.objects.values_list("action", flat=True))
    assert actions == ["new release", "add bdist_wheel file acme-1.0-py3-none-any.whl"]
    assert BurnedFilename.objects.filter(filename="acme-1.0-py3-none-any.whl").exists()
    event = AuditEvent.objects.get(action="publish")
    assert (event.actor, event.channel) == (alice, "web")
    # Old draft links redirect to the public pages.
    for old, new in (
        (f"/simple/draft/{token}/", "/simple/"),
        (f"/simple/draft/{token}/acme/", "/simple/acme/"),
        (f"/project/acme/1.0--draft--{token}/", "/project/acme/1.0/"),
    ):
        response = client.get(old)
        assert response.status_code == 301, old
        assert response["Location"] == new


def test_publish_twice_changes_nothing_and_says_so(draft, alice):
    publish_release(release=draft, actor=web_actor(alice))
    serial = JournalEntry.objects.count()
    with pytest.raises(ReleaseStateError, match="already published"):
        publish_release(release=draft, actor=web_actor(alice))
    assert JournalEntry.objects.count() == serial


def test_published_filenames_are_burned(uploader, draft, alice):
    publish_release(release=draft, actor=web_actor(alice))
    changed = make_wheel("acme", "1.0", module_source="x = 2\n")
    response = upload(uploader, path="/legacy/", wheel=changed)
    assert response.status_code == 400
    assert response.content.decode().startswith("File already exists")


def test_publish_query_count_does_not_depend_on_file_count(uploader, alice):
    def publish_count(version: str, tags: list[str]) -> int:
        for tag in tags:
            assert upload(uploader, version=version, wheel=make_wheel("acme", version, tag=tag)).status_code == 200
        release = Release.objects.get(version=version)
        with CaptureQueriesContext(connection) as queries:
            publish_release(release=release, actor=web_actor(alice))
        assert JournalEntry.objects.filter(version=version).count() == len(tags) + 1
        return len(queries)

    one = publish_count("1.0", ["py3-none-any"])
    many = publish_count("2.0", [f"cp3{i}-cp3{i}-linux_x86_64" for i in range(8, 14)] + ["py3-none-any"])
    assert one == many


def test_publish_command(draft, capsys):
    call_command("publish_release", "acme", "1.0")
    assert "Published acme 1.0" in capsys.readouterr().out
    assert AuditEvent.objects.get(action="publish").channel == "command"


# --- discard, limits, expiry -------------------------------------------------------------------


def test_discard_deletes_release_and_objects(draft, django_capture_on_commit_callbacks):
    path = draft.files.get().path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("discard_draft", "acme", "1.0")
    assert not Release.objects.exists()
    assert not File.objects.exists()
    assert not object_exists(path)
    assert AuditEvent.objects.get(action="discard").channel == "command"


def test_discard_a_published_release_is_refused(draft, alice):
    publish_release(release=draft, actor=web_actor(alice))
    with pytest.raises(ReleaseStateError, match="only drafts"):
        discard_draft(release=draft, actor=web_actor(alice))


def test_one_draft_too_many_names_the_existing_one(uploader, draft):
    response = upload(uploader, version="2.0")
    assert response.status_code == 400
    body = response.content.decode()
    assert "already has a draft (1.0)" in body
    assert "publish_release acme 1.0" in body


def test_draft_limit_is_configurable(uploader, draft, settings):
    settings.PYPIDRAFT_MAX_DRAFTS_PER_PROJECT = 2
    assert upload(uploader, version="2.0").status_code == 200


def test_purge_expired_drafts_deletes_rows_and_objects(draft, django_capture_on_commit_callbacks):
    path = draft.files.get().path
    Release.objects.filter(pk=draft.pk).update(created=timezone.now() - timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_expired_drafts")
    assert not Release.objects.exists()
    assert not object_exists(path)


def test_live_drafts_survive_the_purge(draft):
    call_command("purge_expired_drafts")
    assert Release.objects.filter(pk=draft.pk).exists()
