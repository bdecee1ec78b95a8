"""hotpath.transaction(): an atomic block whose BEGIN and COMMIT ride with its statements.

It must behave as `transaction.atomic()` does: one transaction from the first statement
to the commit, rolled back on error, a savepoint when nested.
"""

from __future__ import annotations

import pytest
from django.db import connection, connections, transaction

from releases import hotpath
from releases.models import JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)


def journal_insert(name: str) -> hotpath.Statement:
    return hotpath.insert(JournalEntry(name=name, action="test"))


@pytest.fixture
def other_connection():
    """A second connection to the same database, as another worker would hold."""
    other = connections.create_connection("default")
    yield other
    other.close()


def lock_is_free(other, key: str) -> bool:
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [hotpath.OBJECT_KEY_LOCK, key])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [hotpath.OBJECT_KEY_LOCK, key])
    return free


def journal_names(other) -> list[str]:
    with other.cursor() as cursor:
        cursor.execute(f"SELECT name FROM {JournalEntry._meta.db_table} ORDER BY id")
        return [name for (name,) in cursor.fetchall()]


def test_statements_run_by_run_are_one_transaction_until_the_block_ends(other_connection):
    if connection.vendor != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    with hotpath.transaction():
        hotpath.run(hotpath.object_key_lock("k1"))
        # A transaction-scoped lock outlives its statement: the BEGIN went first.
        assert not lock_is_free(other_connection, "k1")
        hotpath.run([journal_insert("a")])
        assert not lock_is_free(other_connection, "k1")
        assert journal_names(other_connection) == []  # not committed yet
    assert lock_is_free(other_connection, "k1")
    assert journal_names(other_connection) == ["a"]
    assert list(JournalEntry.objects.values_list("name", flat=True)) == ["a"]


def test_an_error_rolls_back_what_run_and_the_orm_wrote():
    with pytest.raises(ZeroDivisionError), hotpath.transaction():
        # The ORM goes first here: the BEGIN owed must go before it.
        JournalEntry.objects.create(name="orm", action="test")
        hotpath.run([journal_insert("batch")])
        1 / 0
    assert not JournalEntry.objects.exists()


def test_a_failing_statement_rolls_back_the_whole_block():
    with pytest.raises(Exception, match="no_such_table"), hotpath.transaction():
        hotpath.run([journal_insert("first")])
        hotpath.run([journal_insert("second"), ("SELECT * FROM no_such_table", [])])
    assert not JournalEntry.objects.exists()
    # The connection is usable afterwards, in autocommit as Django expects.
    JournalEntry.objects.create(name="after", action="test")
    assert connection.get_autocommit()


def test_commit_with_the_last_batch_commits_and_nothing_may_follow(other_connection):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite the block commits at its end, as atomic() does")
    with pytest.raises(RuntimeError, match="after the COMMIT"), hotpath.transaction():
        hotpath.run([journal_insert("a")])
        rows = hotpath.run([journal_insert("b"), ("SELECT 42", [])], commit=True)
        assert rows == [[], [(42,)]]
        assert journal_names(other_connection) == ["a", "b"]
        JournalEntry.objects.create(name="too late", action="test")
    # Committed: the error after the COMMIT cannot take it back, and the late row never ran.
    assert list(JournalEntry.objects.values_list("name", flat=True)) == ["a", "b"]


def test_nested_in_an_atomic_block_it_is_a_savepoint():
    with transaction.atomic():
        JournalEntry.objects.create(name="outer", action="test")
        with pytest.raises(ZeroDivisionError), hotpath.transaction():
            hotpath.run([journal_insert("inner")], commit=True)
            1 / 0
        assert list(JournalEntry.objects.values_list("name", flat=True)) == ["outer"]
        with hotpath.transaction():
            hotpath.run([journal_insert("kept")], commit=True)
    assert list(JournalEntry.objects.values_list("name", flat=True)) == ["outer", "kept"]


def test_a_commit_alone_ends_the_transaction(other_connection):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite the block commits at its end, as atomic() does")
    with hotpath.transaction():
        hotpath.run([journal_insert("a")])
        assert hotpath.run([], commit=True) == []
        assert journal_names(other_connection) == ["a"]


def test_a_block_without_statements_leaves_no_transaction_open():
    with hotpath.transaction():
        pass
    assert connection.get_autocommit()
    if connection.vendor == "postgresql":
        assert connection.connection.info.transaction_status == 0  # IDLE
