"""Hand-written SQL of the upload path, sent in as few round trips as possible.

A small upload is a dozen short statements. Built through the ORM, each cost two to five
times its round trip (on the benchmark machine: 2.4 ms for the project lookup with its
subqueries, 0.5 ms as raw SQL), and each was a round trip of its own. Here the statements
are written once, values go through each field's own `get_db_prep_save` (so defaults,
JSON and dates are stored as the ORM would), and on PostgreSQL the statements of one
step travel together: psycopg's client-side binding runs `a; b; c` in one round trip and
hands back each statement's rows. SQLite runs them one by one.

The locking reads and the writes run inside the caller's transaction; locks are
PostgreSQL's (`FOR UPDATE`, advisory locks) and SQLite's single writer lock otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db import transaction as django_transaction
from psycopg.adapt import Transformer
from psycopg.pq import ExecStatus

from releases.models import (
    ApiToken,
    AuthFailure,
    BurnedFilename,
    File,
    JournalEntry,
    ObjectDeletion,
    Project,
    Release,
    Role,
)

Statement = tuple[str, Sequence]
TUPLES_OK = ExecStatus.TUPLES_OK

# Advisory lock classes (pg_advisory_xact_lock(class, key)).
JOURNAL_LOCK = 7201
OBJECT_KEY_LOCK = 7202

# States of a hot-path transaction (see transaction()), kept on the connection.
BEGIN_OWED, OPEN, COMMITTED = "begin owed", "open", "committed"


def run(statements: list[Statement], *, commit: bool = False) -> list[list[tuple]]:
    """Run `statements` in order and return the rows of each (empty for those without).

    Inside `transaction()` on PostgreSQL, the BEGIN still owed travels with them, and with
    `commit=True` so does the COMMIT: then they must be the block's last statements.
    """
    state = getattr(connection, "hotpath_transaction", None)
    if state == COMMITTED:
        raise RuntimeError("statements after the COMMIT of a hot-path transaction")
    begin, commit = state == BEGIN_OWED, commit and state is not None
    if begin or commit:
        connection.hotpath_transaction = OPEN
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            results = []
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        results = _run_postgresql(cursor, statements, begin=begin, commit=commit)
    if commit:
        connection.hotpath_transaction = COMMITTED
    return results


# --- PostgreSQL: one round trip, prepared statements --------------------------------------
#
# Planning was most of PostgreSQL's time in an upload: 0.1-0.4 ms for each of these short
# statements against a few hundredths of a millisecond to run them. So each statement is
# prepared once per session (PREPARE ... AS, sent in front of the batch that first uses
# it) and then run with EXECUTE and its values as literals, the whole batch in one
# simple-protocol query as before. A PREPARE outlives a rollback, and the PREPAREs come
# first in their batch, so after a batch that succeeded they all exist; after one that
# failed we cannot be sure, and the next batch starts with DEALLOCATE ALL.

PREPARED_PER_SESSION = 200


@dataclass(frozen=True)
class _Shape:
    """One SQL text (with %s placeholders) as a literal template and as a prepared statement."""

    template: bytes
    name: bytes
    prepare: bytes


@lru_cache(maxsize=1024)
def _shape(sql: str) -> _Shape:
    pieces = sql.split("%s")
    if any("%" in piece for piece in pieces):
        raise ValueError(f"hot-path SQL may use % only in %s placeholders: {sql[:80]!r}")
    numbered = pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], start=1))
    name = "pypidraft_" + hashlib.blake2b(sql.encode(), digest_size=10).hexdigest()
    return _Shape(
        template="%b".join(pieces).encode(), name=name.encode(), prepare=f"PREPARE {name} AS {numbered}".encode()
    )


@dataclass
class _Session:
    """What one PostgreSQL session has prepared."""

    raw: object
    literals: Transformer
    prepared: set[bytes] = dataclasses.field(default_factory=set)
    uncertain: bool = False


def _session(db) -> _Session:
    session = getattr(db, "hotpath_session", None)
    if session is None or session.raw is not db.connection:
        session = db.hotpath_session = _Session(raw=db.connection, literals=Transformer.from_context(db.connection))
    return session


def _run_postgresql(cursor, statements: list[Statement], *, begin: bool, commit: bool) -> list[list[tuple]]:
    session = _session(connection)
    prepare = settings.PYPIDRAFT_PREPARED_STATEMENTS
    head: list[bytes] = []
    if session.uncertain:
        head.append(b"DEALLOCATE ALL")
        session.prepared.clear()
        session.uncertain = False
    if begin:
        head.append(b"BEGIN")
    body: list[bytes] = []
    new: list[bytes] = []
    with connection.wrap_database_errors:
        for sql, params in statements:
            shape = _shape(sql)
            values = [b"NULL" if value is None else session.literals.as_literal(value) for value in params]
            known = shape.name in session.prepared or shape.name in new
            if prepare and params and (known or len(session.prepared) + len(new) < PREPARED_PER_SESSION):
                if not known:
                    # Before BEGIN: a PREPARE is no part of the transaction anyway.
                    head.insert(len(head) - begin, shape.prepare)
                    new.append(shape.name)
                body.append(b"EXECUTE " + shape.name + b"(" + b", ".join(values) + b")")
            else:
                body.append(shape.template % tuple(values))
    tail = [b"COMMIT"] if commit else []
    try:
        cursor.execute(b"; ".join([*head, *body, *tail]))
    except BaseException:
        if new or session.prepared:
            session.uncertain = True
        raise
    session.prepared.update(new)
    raw = cursor.cursor
    results = []
    while True:
        result = raw.pgresult
        results.append(raw.fetchall() if result is not None and result.status == TUPLES_OK else [])
        if not raw.nextset():
            break
    return results[len(head) : len(results) - len(tail)]


@contextmanager
def transaction() -> Iterator[None]:
    """`django.db.transaction.atomic()` for the upload path, two round trips shorter.

    psycopg sends BEGIN on its own before a transaction's first statement, and COMMIT on
    its own at the end. Here, in an outermost block on PostgreSQL, the psycopg connection
    stays in autocommit mode and BEGIN travels with the block's first statement (in `run`,
    or in front of any other statement through an execute wrapper); COMMIT travels with
    the last batch when it asks for it (`run(..., commit=True)`), otherwise Django's commit
    sends it. Django's bookkeeping (atomic blocks, savepoints, rollback on error) is as
    usual: psycopg's commit() and rollback() look at the server's transaction status.
    """
    db = connection
    outermost = not db.in_atomic_block
    with django_transaction.atomic():
        raw = db.connection
        if not (outermost and db.vendor == "postgresql" and raw.isolation_level is None):
            yield
            return
        raw.autocommit = True
        db.hotpath_transaction = BEGIN_OWED
        try:
            with db.execute_wrapper(_send_owed_begin):
                yield
        finally:
            db.hotpath_transaction = None


def _send_owed_begin(execute, sql, params, many, context):
    state = connection.hotpath_transaction
    if state == COMMITTED:
        raise RuntimeError("statements after the COMMIT of a hot-path transaction")
    if state == BEGIN_OWED:
        connection.hotpath_transaction = OPEN
        context["cursor"].execute("BEGIN")
    return execute(sql, params, many, context)


# The SQL text is built once per name: through Django's connection proxy each lookup
# cost more than the statement's own formatting.
@cache
def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _table(model: type[models.Model]) -> str:
    return _qn(model._meta.db_table)


@cache
def _columns(model: type[models.Model], alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{_qn(model._meta.get_field(name).column)}" for name in names)


@cache
def _fields(model: type[models.Model], names: tuple[str, ...]) -> tuple[models.Field, ...]:
    return tuple(model._meta.get_field(name) for name in names)


def _for_update(of: str) -> str:
    return f" FOR UPDATE OF {of}" if connection.features.has_select_for_update_of else ""


def _from_db(model: type[models.Model], names: tuple[str, ...], row: Sequence):
    """A model instance from a raw row: the few conversions SQLite needs (PostgreSQL
    returns these types as they are); the fields not in `names` stay deferred."""
    values = []
    fields = _fields(model, names)
    for field, value in zip(fields, row, strict=True):
        if value is not None and isinstance(field, models.BooleanField):
            value = bool(value)
        elif isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        elif isinstance(value, str) and isinstance(field, models.DateTimeField):
            value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
        values.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], values)


# --- inserts and updates ------------------------------------------------------------------


@cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@cache
def _insert_sql(model: type[models.Model], returning: tuple[str, ...], expressions: tuple[str, ...]) -> str:
    """INSERT INTO t (all columns) VALUES (%s, …): `expressions` name the fields whose
    placeholder is `({})` for an SQL expression."""
    fields = _insert_fields(model)
    columns = ", ".join(_qn(f.column) for f in fields)
    placeholders = ", ".join("({})" if f.attname in expressions else "%s" for f in fields)
    sql = f"INSERT INTO {_table(model)} ({columns}) VALUES ({placeholders})"
    if returning:
        sql += " RETURNING " + ", ".join(_qn(model._meta.get_field(name).column) for name in returning)
    return sql


def insert(
    obj: models.Model, *, returning: tuple[str, ...] = (), expressions: dict[str, Statement] | None = None
) -> Statement:
    """INSERT one unsaved instance (its constructor applied the defaults), returning the
    columns `returning`. `expressions` gives some fields an SQL expression (with its
    params) instead of the instance's value: a row inserted earlier in the same batch."""
    model = type(obj)
    expressions = expressions or {}
    sql = _insert_sql(model, returning, tuple(expressions))
    db = connections[DEFAULT_DB_ALIAS]
    params = []
    for field, stored_as_is in _insert_plan(model):
        value = getattr(obj, field.attname)
        if field.attname in expressions:
            expression, expression_params = expressions[field.attname]
            sql = sql.replace("({})", f"({expression})", 1)
            params.extend(expression_params)
        elif stored_as_is is not None and (value is None or type(value) is stored_as_is):
            params.append(value)
        else:
            params.append(field.get_db_prep_save(value, db))
    return sql, params


@cache
def _insert_plan(model: type[models.Model]) -> tuple[tuple[models.Field, type | None], ...]:
    """Each inserted field with the one value type its get_db_prep_save returns unchanged,
    as it does None (those calls were a tenth of an upload's Python): str for text, int
    for integers and keys to integer ids, bool for booleans; None for the fields that
    always go through it (dates, JSON, bytes, addresses)."""
    plan = []
    for field in _insert_fields(model):
        target = field.target_field if isinstance(field, models.ForeignKey) else field
        if isinstance(target, (models.CharField, models.TextField)):
            as_is = str
        elif isinstance(target, (models.IntegerField, models.AutoField)):
            as_is = int
        elif isinstance(target, models.BooleanField):
            as_is = bool
        else:
            as_is = None
        plan.append((field, as_is))
    return tuple(plan)


def release_id(project: Project, canonical_version: str) -> Statement:
    return (
        f"SELECT r.id FROM {_table(Release)} r WHERE r.project_id = %s AND r.canonical_version = %s",
        [project.pk, canonical_version],
    )


def update(model: type[models.Model], pk: int, values: dict[str, object]) -> Statement:
    fields = [model._meta.get_field(name) for name in values]
    assignments = ", ".join(f"{_qn(f.column)} = %s" for f in fields)
    db = connections[DEFAULT_DB_ALIAS]
    params = [f.get_db_prep_save(value, db) for f, value in zip(fields, values.values(), strict=True)]
    return f"UPDATE {_table(model)} SET {assignments} WHERE {_qn(model._meta.pk.column)} = %s", [*params, pk]


def delete(model: type[models.Model], pk: int) -> Statement:
    return f"DELETE FROM {_table(model)} WHERE {_qn(model._meta.pk.column)} = %s", [pk]


def burn_filename(filename: str, when: dt.datetime) -> Statement:
    table, column = _table(BurnedFilename), _qn("filename")
    return (
        f"INSERT INTO {table} ({column}, {_qn('created')}) VALUES (%s, %s) ON CONFLICT ({column}) DO NOTHING",
        [filename, BurnedFilename._meta.get_field("created").get_db_prep_save(when, connection)],
    )


def journal_lock() -> list[Statement]:
    """The journal's lock (none on SQLite, whose write transactions hold the whole database)."""
    if connection.vendor != "postgresql":
        return []
    return [("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_LOCK])]


def object_key_lock(key: str) -> list[Statement]:
    """The lock of one storage key (see services._lock_object_key); none on SQLite."""
    if connection.vendor != "postgresql":
        return []
    return [("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [OBJECT_KEY_LOCK, key])]


def object_deleted_since(key: str, since: dt.datetime) -> Statement:
    """Whether a cleanup deleted the object under `key` after `since` (its tombstone)."""
    return (
        f"SELECT EXISTS (SELECT 1 FROM {_table(ObjectDeletion)} d WHERE d.{_qn('key')} = %s AND d.deleted > %s)",
        [key, ObjectDeletion._meta.get_field("deleted").get_db_prep_save(since, connection)],
    )


def set_serial_from_journal(project: Project) -> Statement:
    """The project's newest journal id as its serial (run under the journal lock)."""
    return (
        f"UPDATE {_table(Project)} SET last_serial = "
        f"(SELECT MAX(j.id) FROM {_table(JournalEntry)} j WHERE j.name = %s) WHERE id = %s RETURNING last_serial",
        [project.normalized_name, project.pk],
    )


# --- reads --------------------------------------------------------------------------------

TOKEN_FIELDS = ("id", "user", "project", "prefix", "last_used")
FAILURE_FIELDS = ("id", "key", "window_start", "count")


def auth_lookup(
    failure_keys: list[str], since: dt.datetime, token_digest: str | None
) -> tuple[list[AuthFailure], ApiToken | None]:
    """The rate limit's live counters for `failure_keys` and the API token with this
    digest (its user attached, username and is_active loaded): one round trip."""
    statements = []
    if failure_keys:
        placeholders = ", ".join(["%s"] * len(failure_keys))
        since = AuthFailure._meta.get_field("window_start").get_db_prep_value(since, connection)
        statements.append(
            (
                f"SELECT {_columns(AuthFailure, 'f', FAILURE_FIELDS)} FROM {_table(AuthFailure)} f "
                f"WHERE f.{_qn('key')} IN ({placeholders}) AND f.window_start > %s",
                [*failure_keys, since],
            )
        )
    user_model = get_user_model()
    if token_digest is not None:
        statements.append(
            (
                f"SELECT {_columns(ApiToken, 't', TOKEN_FIELDS)}, u.{_qn(user_model.USERNAME_FIELD)}, u.is_active "
                f"FROM {_table(ApiToken)} t JOIN {_table(user_model)} u ON u.id = t.user_id WHERE t.digest = %s",
                [token_digest],
            )
        )
    if not statements:
        return [], None
    results = run(statements)
    failures = [_from_db(AuthFailure, FAILURE_FIELDS, row) for row in results[0]] if failure_keys else []
    token = None
    if token_digest is not None and results[-1]:
        *token_values, username, is_active = results[-1][0]
        token = _from_db(ApiToken, TOKEN_FIELDS, token_values)
        token.user = _from_db(
            user_model, ("id", user_model.USERNAME_FIELD, "is_active"), [token.user_id, username, is_active]
        )
    return failures, token


PROJECT_FIELDS = ("id", "name", "normalized_name", "auto_publish_releases", "last_serial")


def _project_sql(*, lock: bool) -> str:
    return (
        f"SELECT {_columns(Project, 'p', PROJECT_FIELDS)}, "
        f"(SELECT r.role FROM {_table(Role)} r WHERE r.project_id = p.id AND r.user_id = %s), "
        f"EXISTS (SELECT 1 FROM {_table(BurnedFilename)} b WHERE b.filename = %s) "
        f"FROM {_table(Project)} p WHERE p.normalized_name = %s" + (_for_update("p") if lock else "")
    )


def _project(row: Sequence) -> Project:
    *values, role, burned = row
    project = _from_db(Project, PROJECT_FIELDS, values)
    project.user_role = role
    project.filename_burned = bool(burned)
    return project


def project_for_upload(normalized_name: str, user) -> Project | None:
    """The project with `user_role`, the user's role in it or None (no lock)."""
    rows = run([(_project_sql(lock=False), [user.pk, "", normalized_name])])[0]
    return _project(rows[0]) if rows else None


# What an upload reads of a release and of the files in its way; the rest stays deferred.
RELEASE_FIELDS = (
    "id",
    "project",
    "version",
    "canonical_version",
    "created",
    "published",
    "uploader",
    "draft_nonce",
    "draft_token_hash",
)
FILE_FIELDS = ("id", "release", "filename", "packagetype", "sha256_digest", "blake2_256_digest", "path")


@dataclass
class UploadTarget:
    """What an upload finds, locked: its project (None if new; with `user_role` and
    `filename_burned`), its release (None if new), and the files with its filename or its
    bytes, plus the release's sdist when it brings an sdist."""

    project: Project | None
    release: Release | None
    files: list[File]
    # The rows of the statements run first (lock_upload_target's `first`).
    first: list[list[tuple]]


def lock_upload_target(
    normalized_name: str,
    canonical_version: str,
    user,
    *,
    filename: str,
    sha256: str,
    blake2_256: str,
    sdist: bool,
    first: Sequence[Statement] = (),
) -> UploadTarget:
    """Lock the project, then the release (the order of every state change), and read
    the files in the way: one round trip on PostgreSQL, with the statements `first` in
    front."""
    release_of = (
        f"FROM {_table(Release)} r JOIN {_table(Project)} p ON p.id = r.project_id "
        "WHERE p.normalized_name = %s AND r.canonical_version = %s"
    )
    files_sql = (
        f"SELECT {_columns(File, 'f', FILE_FIELDS)} FROM {_table(File)} f "
        "WHERE f.filename = %s OR f.sha256_digest = %s OR f.blake2_256_digest = %s"
    )
    files_params: list = [filename, sha256, blake2_256]
    if sdist:
        # A UNION, not one more OR: an OR over a subquery turns the index lookups into a
        # scan of every file (60 ms at 100,000 files).
        files_sql += (
            f" UNION SELECT {_columns(File, 'f', FILE_FIELDS)} FROM {_table(File)} f "
            f"WHERE f.packagetype = %s AND f.release_id IN (SELECT r.id {release_of})"
        )
        files_params += [File.SDIST, normalized_name, canonical_version]
    *first_rows, projects, releases, files = run(
        [
            *first,
            (_project_sql(lock=True), [user.pk, filename, normalized_name]),
            (
                f"SELECT {_columns(Release, 'r', RELEASE_FIELDS)} {release_of}{_for_update('r')}",
                [normalized_name, canonical_version],
            ),
            (files_sql, files_params),
        ]
    )
    return UploadTarget(
        project=_project(projects[0]) if projects else None,
        release=_from_db(Release, RELEASE_FIELDS, releases[0]) if releases else None,
        files=[_from_db(File, FILE_FIELDS, row) for row in files],
        first=first_rows,
    )
