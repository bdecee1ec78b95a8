"""What one upload costs the database: a fixed number of round trips, whatever the project holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from psycopg import BaseConnection, ClientCursor

from releases.models import File
from releases.services import create_api_token
from tests.conftest import basic
from tests.support.distributions import make_sdist, make_wheel, upload_fields

# Outside a test's own transaction: an upload's transaction must be the outermost one for
# its BEGIN and COMMIT to travel with its statements, as they do in production.
pytestmark = pytest.mark.django_db(transaction=True)

# Round trips to the database. On PostgreSQL: the rate limit with the token; BEGIN, the
# object key lock, the locked project (with the uploader's role) + release + files in the
# way; the file INSERT with the release INSERT or UPDATE, the journal (lock, entries,
# burned name, serial) and the audit, with COMMIT. SQLite runs every statement on its own
# (no batches, no advisory locks).
ROUND_TRIPS = {
    "postgresql": {"new release": 3, "existing release": 3},
    "sqlite": {"new release": 15, "existing release": 14},
}


class RoundTrips:
    """Counts what the process sends to PostgreSQL: every execute (one message, however
    many statements it holds) and every command psycopg sends on its own (BEGIN, COMMIT,
    ROLLBACK). On SQLite, the statements Django runs."""

    def __init__(self, monkeypatch) -> None:
        self.sent = 0
        if connection.vendor != "postgresql":
            return
        execute_send, exec_command = ClientCursor._execute_send, BaseConnection._exec_command

        def counted_execute_send(cursor, *args, **kwargs):
            self.sent += 1
            return execute_send(cursor, *args, **kwargs)

        def counted_exec_command(conn, *args, **kwargs):
            self.sent += 1
            return exec_command(conn, *args, **kwargs)

        monkeypatch.setattr(ClientCursor, "_execute_send", counted_execute_send)
        monkeypatch.setattr(BaseConnection, "_exec_command", counted_exec_command)

    def count(self, action) -> int:
        before = self.sent
        with CaptureQueriesContext(connection) as queries:
            action()
        return self.sent - before if connection.vendor == "postgresql" else len(queries)


@pytest.fixture
def round_trips(monkeypatch) -> RoundTrips:
    return RoundTrips(monkeypatch)


@pytest.fixture
def token_auth(alice, project) -> str:
    _, token = create_api_token(user=alice)
    return basic("__token__", token)


def count_round_trips(round_trips, uploader, token_auth, name: str, version: str, **options) -> int:
    sdist, path = options.get("sdist", False), options.get("path", "/legacy/")
    filename, data = make_sdist(name, version) if sdist else make_wheel(name, version)

    def upload() -> None:
        response = uploader.post(
            upload_fields(name, version, filename, data), filename=filename, data=data, auth=token_auth, path=path
        )
        assert response.status_code == 200, response.content

    return round_trips.count(upload)


def test_a_public_upload_costs_the_same_round_trips_for_the_first_and_the_hundredth_file(
    round_trips, uploader, token_auth
):
    count_round_trips(round_trips, uploader, token_auth, "acme", "0.1")  # also marks the token used (once a minute)
    counts = {"new release": [], "existing release": []}
    for minor in range(50):
        version = f"1.{minor}"
        counts["new release"].append(count_round_trips(round_trips, uploader, token_auth, "acme", version, sdist=True))
        counts["existing release"].append(count_round_trips(round_trips, uploader, token_auth, "acme", version))
    assert File.objects.count() == 101
    expected = ROUND_TRIPS[connection.vendor]
    assert {kind: set(values) for kind, values in counts.items()} == {kind: {n} for kind, n in expected.items()}


def test_a_draft_upload_costs_no_more_than_a_public_one(round_trips, uploader, token_auth):
    def draft(version: str, *, sdist: bool = False) -> int:
        return count_round_trips(round_trips, uploader, token_auth, "acme", version, sdist=sdist, path="/legacy/draft/")

    count_round_trips(round_trips, uploader, token_auth, "acme", "0.1")  # marks the token used (once a minute)
    # The first file of a new draft also counts the project's live drafts (the limit).
    first, second = draft("2.0", sdist=True), draft("2.0")
    expected = ROUND_TRIPS[connection.vendor]
    assert first <= expected["new release"] + 1 and second <= expected["existing release"], (first, second)
