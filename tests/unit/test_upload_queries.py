"""What one upload costs the database: a fixed number of round trips, whatever the project holds."""

from __future__ import annotations

import psycopg._cursor_base
import psycopg.generators
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import File
from releases.services import create_api_token
from tests.conftest import basic
from tests.support.distributions import make_sdist, make_wheel, upload_fields

# Outside a test's own transaction: an upload's transaction must be the outermost one, as
# it is in production (BEGIN and COMMIT are then round trips of their own).
pytestmark = pytest.mark.django_db(transaction=True)

# Round trips to the database, all through the ORM: the token (a valid one reads no
# rate-limit counter); BEGIN; the storage key's lock; the locked project with the
# uploader's role; the locked release; the files in the way; the release's INSERT (a new
# release; an existing one is updated only when the upload's metadata differs, and here
# the files of a version bring the same); the file INSERT; for a public release the
# burned filename, the journal's lock, its entries and the project's serial (4); the
# audit event; COMMIT. SQLite has no advisory locks, and BEGIN and COMMIT are not queries
# there. psycopg prepares a statement on its 5th execution on a connection (one more
# round trip, once): the counts are taken after that.
ROUND_TRIPS = {
    "postgresql": {"new release": 14, "existing release": 13},
    "sqlite": {"new release": 10, "existing release": 9},
}
WARM_UP = 10


class RoundTrips:
    """Counts the round trips psycopg makes to PostgreSQL: each wait for a command's
    results (a query, a prepared statement's PREPARE, BEGIN, COMMIT). On SQLite, the
    statements Django runs."""

    def __init__(self, monkeypatch) -> None:
        self.sent = 0
        if connection.vendor != "postgresql":
            return
        execute = psycopg.generators.execute

        def counted_execute(*args, **kwargs):
            self.sent += 1
            return execute(*args, **kwargs)

        # _cursor_base imported the generator by name; the connection uses the module's.
        monkeypatch.setattr(psycopg._cursor_base, "execute", counted_execute)
        monkeypatch.setattr(psycopg.generators, "execute", counted_execute)

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
    steady = {kind: set(values[WARM_UP:]) for kind, values in counts.items()}
    assert steady == {kind: {n} for kind, n in expected.items()}, counts
    # Preparing costs one round trip per statement, once per connection.
    assert all(value <= expected[kind] + 15 for kind, values in counts.items() for value in values), counts


def test_a_draft_upload_costs_no_more_than_a_public_one(round_trips, uploader, token_auth):
    def draft(version: str, *, sdist: bool = False) -> int:
        return count_round_trips(round_trips, uploader, token_auth, "acme", version, sdist=sdist, path="/legacy/draft/")

    for minor in range(WARM_UP):  # marks the token used (once a minute); statements get prepared
        count_round_trips(round_trips, uploader, token_auth, "acme", f"0.{minor}")
    # The first file of a new draft also counts the project's live drafts (the limit).
    first, second = draft("2.0", sdist=True), draft("2.0")
    expected = ROUND_TRIPS[connection.vendor]
    assert first <= expected["new release"] + 1 and second <= expected["existing release"], (first, second)
