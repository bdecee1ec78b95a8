"""The upload's lookups use indexes: none may read every file, release or journal entry."""

from __future__ import annotations

import pytest
from django.db import connection

from releases.services import create_api_token
from tests.conftest import basic
from tests.support.distributions import make_sdist, make_wheel, upload_fields

pytestmark = [pytest.mark.django_db(transaction=True)]


def plans(statements: list[tuple[str, list]]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        # With scans made prohibitively dear, a plan that still scans has no index to use.
        cursor.execute("SET LOCAL enable_seqscan = off")
        result = []
        for sql, params in statements:
            cursor.execute("EXPLAIN " + sql, params)
            result.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("ROLLBACK")
        return result


@pytest.mark.parametrize("sdist", [False, True], ids=["wheel", "sdist"])
def test_an_upload_reads_through_indexes(alice, project, uploader, sdist):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    _, token = create_api_token(user=alice)
    auth = basic("__token__", token)
    filename, data = make_sdist("acme", "1.0") if sdist else make_wheel("acme", "1.0")
    statements: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")) and "pg_advisory" not in sql:
            statements.append((sql, list(params or [])))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data, auth=auth)
    assert response.status_code == 200, response.content
    found = plans(statements)
    # The token, the project, the release, the files in the way, the project's serial;
    # and the token's last use, once a minute.
    assert len(found) >= 5, statements
    assert [plan for plan in found if "Seq Scan" in plan] == []
