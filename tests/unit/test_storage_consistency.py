"""Storage and database stay consistent: no row without its object, no object without its row."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from releases.accounts.tokens import api_token_digest
from releases.models import ApiToken, File, Project, Release
from releases.storage import file_key, object_exists
from tests.support.distributions import make_sdist, upload_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_storage(settings, tmp_path):
    """A filesystem storage whose root is a regular file: every write fails with OSError."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.PYPIDRAFT_STORAGE = "filesystem"
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "releases.storage.filesystem.PackageFileSystemStorage",
            "OPTIONS": {"location": str(blocker / "packages")},
        },
    }


def test_storage_failure_is_503_and_writes_no_row(uploader, alice, broken_storage):
    response = uploader.upload()
    assert response.status_code == 503
    assert "storage is unavailable" in response.content.decode()
    assert response["Retry-After"]
    assert not Project.objects.exists()
    assert not Release.objects.exists()
    assert not File.objects.exists()


def test_rejection_after_storing_removes_the_object(uploader, alice):
    filename, data = make_sdist("acme", "1.0")
    assert uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data).status_code == 200
    # A second sdist is refused inside the transaction, after its bytes were stored.
    _, other = make_sdist("acme", "1.0", extra={"acme-1.0/more.txt": b"more"})
    response = uploader.post(
        upload_fields("acme", "1.0", "ACME-1.0.tar.gz", other), filename="ACME-1.0.tar.gz", data=other
    )
    assert response.status_code == 400
    import hashlib

    key = file_key(hashlib.blake2b(other, digest_size=32).hexdigest(), "ACME-1.0.tar.gz")
    assert not object_exists(key)
    assert File.objects.count() == 1
    assert object_exists(File.objects.get().path)


def test_every_row_points_at_a_stored_object(uploader, alice):
    assert uploader.upload().status_code == 200
    stored = File.objects.get()
    assert stored.path == file_key(stored.blake2_256_digest, stored.filename)
    assert object_exists(stored.path)


def test_create_api_token_prints_one_token_stored_as_a_digest(alice, project, capsys):
    call_command("create_api_token", "alice", "--project", "ACME", "--description", "CI")
    token = capsys.readouterr().out.strip()
    assert "\n" not in token and token.startswith("pypd-")
    api_token = ApiToken.objects.get()
    assert api_token.project == project
    assert api_token.digest == api_token_digest(token)
    assert token not in (api_token.digest, api_token.prefix)


def test_token_upload_and_scope(uploader, alice, project, capsys):
    call_command("create_api_token", "alice", "--project", "acme")
    scoped = capsys.readouterr().out.strip()
    assert uploader.upload(user="__token__", password=scoped).status_code == 200
    response = uploader.upload("other", "1.0", user="__token__", password=scoped)
    assert response.status_code == 403
    assert "scoped" in response.content.decode()


def test_first_upload_makes_the_uploader_owner(uploader, bob):
    assert uploader.upload("newproj", "0.1", user="bob").status_code == 200
    project = Project.objects.get(normalized_name="newproj")
    assert list(project.roles.values_list("user__username", "role")) == [("bob", "owner")]
