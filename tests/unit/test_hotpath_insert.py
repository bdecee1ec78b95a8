"""hotpath.insert sends what the ORM would store: the fast path for plain values must give
the very values get_db_prep_save gives."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from releases import hotpath
from releases.models import AuditEvent, File, JournalEntry, Release

NOW = dt.datetime(2026, 11, 21, 18, 0, tzinfo=dt.UTC)


def comparable(value):
    # psycopg's Jsonb wrapper has no equality of its own; True == 1, so booleans are marked.
    # (On PostgreSQL big integers come back as psycopg's Int8, an int: the same literal.)
    return ("json", value.obj) if hasattr(value, "obj") else (type(value) is bool, value)


OBJECTS = {
    "file": File(
        release_id=7,
        filename="acme-1.0-py3-none-any.whl",
        packagetype="bdist_wheel",
        python_version="py3",
        size=1234,
        sha256_digest="a" * 64,
        blake2_256_digest="b" * 64,
        md5_digest="c" * 32,
        uploader_id=None,
        path="aa/bb/cc/acme-1.0-py3-none-any.whl",
        metadata=b"Metadata-Version: 2.1\n",
        metadata_sha256=None,
    ),
    "release": Release(
        project_id=3,
        version="1.0",
        canonical_version="1.0",
        uploader_id=5,
        published=NOW,
        yanked=False,
        summary="s\u00e9",
        requires_dist=["b>1"],
        project_urls={"Home": "https://x.invalid"},
    ),
    "journal entry": JournalEntry(name="acme", version="1.0", action="new release", submitted_by="alice"),
    "audit event": AuditEvent(actor_id=None, actor_name="alice", action="upload file", detail={"a": 1}, client_ip=""),
    # Values of another type than the field's: these take the ORM's conversion.
    "odd types": File(release_id=True, filename=12, size=True, path="p", packagetype="sdist", sha256_digest="d"),
}


@pytest.mark.parametrize("name", list(OBJECTS))
def test_insert_params_are_what_the_orm_would_store(name):
    obj = OBJECTS[name]
    _sql, params = hotpath.insert(obj)
    expected = [
        field.get_db_prep_save(getattr(obj, field.attname), connection) for field in hotpath._insert_fields(type(obj))
    ]
    assert [comparable(p) for p in params] == [comparable(p) for p in expected]
