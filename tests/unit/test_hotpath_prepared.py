"""hotpath.run on PostgreSQL: each statement is prepared once per session and then run
with EXECUTE; what the session has prepared stays known through errors, rollbacks and
reconnections."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from releases import hotpath
from releases.models import JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_session():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    connection.close()  # a session with nothing prepared by earlier tests


def prepared_on_server() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def name_of(sql: str) -> str:
    return hotpath._shape(sql).name.decode()


def journal_insert(name: str) -> hotpath.Statement:
    return hotpath.insert(JournalEntry(name=name, action="test"), returning=("name",))


COUNT = (f"SELECT COUNT(*) FROM {JournalEntry._meta.db_table} WHERE name = %s", ["a"])


def test_statements_are_prepared_once_and_give_the_same_rows_as_plain_sql(settings):
    settings.PYPIDRAFT_PREPARED_STATEMENTS = False
    with transaction.atomic():
        plain = hotpath.run([journal_insert("a"), COUNT])
    assert prepared_on_server() == set()

    settings.PYPIDRAFT_PREPARED_STATEMENTS = True
    with transaction.atomic():
        first = hotpath.run([journal_insert("a"), COUNT])
    assert prepared_on_server() == {name_of(journal_insert("a")[0]), name_of(COUNT[0])}
    with transaction.atomic():
        second = hotpath.run([journal_insert("a"), COUNT])
    assert plain == [[("a",)], [(1,)]]
    assert first == [[("a",)], [(2,)]]
    assert second == [[("a",)], [(3,)]]


def test_statements_of_a_hot_path_transaction_are_prepared_outside_it():
    with hotpath.transaction():
        assert hotpath.run([COUNT]) == [[(0,)]]
        hotpath.run([journal_insert("a"), COUNT], commit=True)
    with hotpath.transaction():
        assert hotpath.run([COUNT], commit=True) == [[(1,)]]
    assert name_of(COUNT[0]) in prepared_on_server()


def test_after_a_failed_batch_the_session_starts_over():
    failing = ("SELECT 1 / %s", [0])
    with pytest.raises(DatabaseError), transaction.atomic():
        hotpath.run([COUNT, failing])
    # Whatever the failed batch prepared, the next one deallocates it all and prepares anew.
    with transaction.atomic():
        assert hotpath.run([COUNT]) == [[(0,)]]
    assert prepared_on_server() == {name_of(COUNT[0])}


def test_statements_deallocated_behind_its_back_cost_one_failed_batch():
    with transaction.atomic():
        hotpath.run([COUNT])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError, match="does not exist"), transaction.atomic():
        hotpath.run([COUNT])
    with transaction.atomic():
        assert hotpath.run([COUNT]) == [[(0,)]]


def test_a_new_session_prepares_again():
    with transaction.atomic():
        hotpath.run([COUNT])
    connection.close()
    with transaction.atomic():
        assert hotpath.run([COUNT]) == [[(0,)]]
    assert prepared_on_server() == {name_of(COUNT[0])}


def test_values_are_sent_as_literals_safely():
    tricky = "a'); DROP TABLE x; --\\ \u00e9 %s %%"
    with transaction.atomic():
        rows = hotpath.run([journal_insert(tricky), (COUNT[0], [tricky])])
    assert rows == [[(tricky,)], [(1,)]]


def test_a_percent_sign_outside_placeholders_is_refused():
    with pytest.raises(ValueError, match="placeholders"):
        hotpath._shape("SELECT 'a%' LIKE %s")
