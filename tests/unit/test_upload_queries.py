"""What one upload costs the database: a fixed number of queries, whatever the project holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import File
from releases.services import create_api_token
from tests.conftest import basic
from tests.support.distributions import make_sdist, make_wheel, upload_fields

pytestmark = pytest.mark.django_db

# Round trips to the database. On PostgreSQL: the rate limit with the token, the early
# rights check, BEGIN, the object key lock, the locked project + release + files in the
# way, the file INSERT with the release INSERT or UPDATE, the journal (lock, entries,
# burned name, serial, audit), COMMIT. SQLite runs every statement on its own (no
# batches, no advisory locks).
ROUND_TRIPS = {
    "postgresql": {"new release": 8, "existing release": 8},
    "sqlite": {"new release": 15, "existing release": 14},
}


@pytest.fixture
def token_auth(alice, project) -> str:
    _, token = create_api_token(user=alice)
    return basic("__token__", token)


def count_queries(uploader, token_auth, name: str, version: str, *, sdist: bool = False) -> int:
    filename, data = make_sdist(name, version) if sdist else make_wheel(name, version)
    with CaptureQueriesContext(connection) as queries:
        response = uploader.post(
            upload_fields(name, version, filename, data), filename=filename, data=data, auth=token_auth
        )
    assert response.status_code == 200, response.content
    return len(queries)


def test_a_public_upload_costs_the_same_round_trips_for_the_first_and_the_hundredth_file(uploader, token_auth):
    count_queries(uploader, token_auth, "acme", "0.1")  # also marks the token used (once a minute)
    counts = {"new release": [], "existing release": []}
    for minor in range(50):
        version = f"1.{minor}"
        counts["new release"].append(count_queries(uploader, token_auth, "acme", version, sdist=True))
        counts["existing release"].append(count_queries(uploader, token_auth, "acme", version))
    assert File.objects.count() == 101
    expected = ROUND_TRIPS[connection.vendor]
    assert {kind: set(values) for kind, values in counts.items()} == {kind: {n} for kind, n in expected.items()}


def test_a_draft_upload_costs_no_more_than_a_public_one(uploader, token_auth):
    def draft(version: str, *, sdist: bool = False) -> int:
        filename, data = make_sdist("acme", version) if sdist else make_wheel("acme", version)
        with CaptureQueriesContext(connection) as queries:
            response = uploader.post(
                upload_fields("acme", version, filename, data),
                filename=filename,
                data=data,
                auth=token_auth,
                path="/legacy/draft/",
            )
        assert response.status_code == 200, response.content
        return len(queries)

    count_queries(uploader, token_auth, "acme", "0.1")  # marks the token used (once a minute)
    # The first file of a new draft also counts the project's live drafts (the limit).
    first, second = draft("2.0", sdist=True), draft("2.0")
    expected = ROUND_TRIPS[connection.vendor]
    assert first <= expected["new release"] and second < expected["existing release"], (first, second)
