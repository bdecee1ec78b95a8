"""`manage.py check_storage` finds (and with --fix repairs) orphans and missing objects."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from releases.models import File
from releases.storage import delete_objects, object_exists, packages_storage
from tests.support.distributions import make_sdist, upload_fields

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("check_storage", "--grace-minutes", "0", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_consistent_storage_reports_nothing(uploader, alice):
    assert uploader.upload().status_code == 200
    output = run()
    assert "0 orphans, 0 missing" in output


def test_orphan_objects_are_reported_and_removed(uploader, alice):
    assert uploader.upload().status_code == 200
    key = "ab/cd/" + "e" * 60 + "/orphan-1.0.tar.gz"
    packages_storage().save(key, ContentFile(b"orphan"))
    assert f"orphan object: {key}" in run()
    assert "deleted 1 orphan objects" in run("--fix")
    assert not object_exists(key)
    assert object_exists(File.objects.get().path)


def test_missing_objects_are_reported_and_draft_rows_dropped(uploader, alice):
    assert uploader.upload().status_code == 200  # published
    filename, data = make_sdist("acme", "2.0")
    fields = upload_fields("acme", "2.0", filename, data)
    assert uploader.post(fields, filename=filename, data=data, path="/legacy/draft/").status_code == 200
    delete_objects(File.objects.values_list("path", flat=True))
    output = run("--fix")
    assert "missing object for published file acme-1.0-py3-none-any.whl" in output
    assert "missing object for draft file acme-2.0.tar.gz" in output
    assert "removed 1 draft file rows" in output
    assert "restore them from a backup" in output
    assert list(File.objects.values_list("filename", flat=True)) == ["acme-1.0-py3-none-any.whl"]


def truncate_stored(key: str, data: bytes) -> None:
    """Replace an object's bytes behind the index's back (a damaged disk, a bad restore)."""
    storage = packages_storage()
    storage.delete(key)
    storage.save(key, ContentFile(data))


def test_an_object_of_the_wrong_size_is_reported_as_damaged(uploader, alice):
    assert uploader.upload().status_code == 200
    stored = File.objects.get()
    truncate_stored(stored.path, b"PK\x03\x04 cut short")
    output = run()
    assert f"damaged object for published file {stored.filename}: 14 bytes instead of {stored.size}" in output
    assert "1 damaged" in output and "restore them from a backup" in output


def test_deep_finds_an_object_of_the_right_size_with_other_bytes(uploader, alice):
    assert uploader.upload().status_code == 200
    stored = File.objects.get()
    truncate_stored(stored.path, b"x" * stored.size)
    assert "0 damaged" in run()
    deep = run("--deep")
    assert f"damaged object for published file {stored.filename}: sha256 " in deep
    assert "1 damaged" in deep
