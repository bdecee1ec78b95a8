"""The upload's lookups use indexes: none may read every file, release or journal entry."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from releases import hotpath

pytestmark = pytest.mark.django_db


@pytest.fixture
def captured(monkeypatch) -> list[hotpath.Statement]:
    statements: list[hotpath.Statement] = []
    run = hotpath.run

    def capturing_run(batch, **options):
        statements.extend(batch)
        return run(batch, **options)

    monkeypatch.setattr(hotpath, "run", capturing_run)
    return statements


def plans(statements: list[hotpath.Statement]) -> list[str]:
    with connection.cursor() as cursor:
        # With scans made prohibitively dear, a plan that still scans has no index to use.
        cursor.execute("SET LOCAL enable_seqscan = off")
        result = []
        for sql, params in statements:
            cursor.execute("EXPLAIN " + sql, params)
            result.append("\n".join(row[0] for row in cursor.fetchall()))
        return result


@pytest.mark.parametrize("sdist", [False, True], ids=["wheel", "sdist"])
def test_an_upload_reads_through_indexes(captured, alice, project, sdist):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with transaction.atomic():
        hotpath.lock_upload_target(
            "acme", "1.0", alice, filename="acme-1.0.tar.gz", sha256="a" * 64, blake2_256="b" * 64, sdist=sdist
        )
        hotpath.run([hotpath.set_serial_from_journal(project)])
        found = plans(captured)
    assert len(found) == 4
    assert [plan for plan in found if "Seq Scan" in plan] == []
