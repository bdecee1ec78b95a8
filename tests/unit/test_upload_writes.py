"""What an upload writes: every row through the ORM (pre_save and defaults are Django's),
and no object before the uploader's rights are known."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from django.db import connection, transaction
from django.db.models import Model

from releases.models import AuditEvent, BurnedFilename, File, JournalEntry, Project, Release
from releases.services import storage as storage_service
from releases.services import uploads
from releases.services.actors import Actor
from releases.storage import cleanup, object_exists, packages_storage
from releases.storage.integrity import StorageReport
from tests.conftest import PASSWORD
from tests.support.distributions import make_wheel, upload_fields

WRITTEN = (Project, Release, File, JournalEntry, BurnedFilename, AuditEvent)
MARK = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


@pytest.fixture
def pre_saves(monkeypatch) -> list[tuple[type[Model], str]]:
    """Every field.pre_save() call on the models an upload writes, as (model, field name).
    File.upload_time's pre_save answers MARK, to show its answer is what gets stored."""
    calls: list[tuple[type[Model], str]] = []
    for model in WRITTEN:
        for field in model._meta.concrete_fields:
            original = field.pre_save

            def spy(instance, add, *, field=field, original=original):
                calls.append((type(instance), field.name))
                value = original(instance, add)
                return MARK if (type(instance), field.name) == (File, "upload_time") else value

            monkeypatch.setattr(field, "pre_save", spy)
    return calls


def columns(model: type[Model]) -> set[str]:
    return {field.name for field in model._meta.concrete_fields if not field.primary_key}


@pytest.mark.django_db(transaction=True)
def test_every_row_of_an_upload_goes_through_pre_save_with_its_defaults(alice, uploader, pre_saves):
    assert uploader.upload("acme", "1.0").status_code == 200  # new project, new public release
    first = set(pre_saves)
    pre_saves.clear()
    filename, data = make_wheel("acme", "1.0", tag="py2-none-any")
    fields = {**upload_fields("acme", "1.0", filename, data), "summary": "A new summary"}
    assert uploader.post(fields, filename=filename, data=data).status_code == 200
    second = set(pre_saves)

    for model in (Project, Release, File, JournalEntry, BurnedFilename, AuditEvent):
        assert {(model, name) for name in columns(model)} <= first, model
    for model in (File, JournalEntry, BurnedFilename, AuditEvent):
        assert {(model, name) for name in columns(model)} <= second, model
    # The release's UPDATE saves what changed, through pre_save too, and nothing else.
    assert {(model, name) for model, name in second if model is Release} == {(Release, "summary")}
    assert Release.objects.get().summary == "A new summary"

    assert set(File.objects.values_list("upload_time", flat=True)) == {MARK}
    release = Release.objects.get()
    assert (release.yanked, release.yanked_reason, release.created is not None) == (False, "", True)
    assert all(entry.submitted_date is not None for entry in JournalEntry.objects.all())
    assert AuditEvent.objects.filter(action="upload file").count() == 2
    assert all(event.created is not None for event in AuditEvent.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_writes_nothing_to_storage(project, charlie, uploader, monkeypatch):
    """charlie has no role on acme and re-uploads the bytes of its published wheel (the
    same storage key): the published object must not even be written to again."""
    wheel = make_wheel("acme", "1.0")
    assert uploader.upload("acme", "1.0", wheel=wheel).status_code == 200
    published = File.objects.get()
    writes: list[str] = []
    real_start = uploads.start_create
    monkeypatch.setattr(uploads, "start_create", lambda key, *args: writes.append(key) or real_start(key, *args))

    for path in ("/legacy/", "/legacy/draft/"):
        response = uploader.upload("acme", "1.0", wheel=wheel, user="charlie", password=PASSWORD, path=path)
        assert response.status_code == 403, response.content
    other = make_wheel("acme", "1.1")
    response = uploader.upload("acme", "1.1", wheel=other, user="charlie", password=PASSWORD)
    assert response.status_code == 403
    assert writes == []
    with packages_storage().open(published.path, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == published.sha256_digest
    assert not object_exists(published.path.replace("1.0", "1.1"))


@pytest.mark.django_db(transaction=True)
def test_check_storage_fix_waits_for_an_upload_in_flight_and_keeps_its_object(project, uploader):
    """An identical upload holds the key's lock while its row is not committed yet: the
    repair's cleanup of that "orphan" waits for the lock, sees the row, keeps the object."""
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks")
    assert uploader.upload("acme", "1.0", path="/legacy/draft/").status_code == 200
    stored = File.objects.get()
    key, row = stored.path, {f.attname: getattr(stored, f.attname) for f in File._meta.concrete_fields}
    File.objects.all().delete()  # the object is an orphan now, as after a discard
    locked, release = threading.Event(), threading.Event()

    def upload_in_flight() -> None:
        try:
            with transaction.atomic():
                cleanup.lock_object_key(key)
                locked.set()
                release.wait(10)
                File.objects.create(**row)
        finally:
            connection.close()

    worker = threading.Thread(target=upload_in_flight)
    worker.start()
    assert locked.wait(10)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    deleted, dropped = storage_service.repair_storage(StorageReport(orphans=[key]), actor=Actor.command())
    worker.join(10)
    assert (deleted, dropped) == (0, 0)
    assert object_exists(key)
    assert not AuditEvent.objects.filter(action="delete orphan objects").exists()


@pytest.mark.django_db
def test_check_storage_fix_audits_what_it_deleted(project, uploader):
    from django.core.files.base import ContentFile

    key = "ab/cd/" + "e" * 60 + "/orphan-1.0.tar.gz"
    packages_storage().save(key, ContentFile(b"orphan"))
    deleted, _ = storage_service.repair_storage(StorageReport(orphans=[key]), actor=Actor.command())
    assert deleted == 1
    event = AuditEvent.objects.get(action="delete orphan objects")
    assert (event.channel, event.detail) == ("command", {"keys": [key]})
