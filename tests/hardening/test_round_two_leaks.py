"""Hardening, round two: what an outsider could learn about hidden (drafts-only) projects.

On the real server (gunicorn, DEBUG=0) unless said otherwise:
- an upload without a file answers the same 400 for a hidden project and a free name;
- a refused upload names the project as the upload did, never by its stored display name;
- public validators (ETags) are keyed hashes: no project id, whose gaps reveal hidden projects;
- the maintainer API finds an existing draft and a missing version in the same work.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from releases.services import create_api_token
from tests.e2e.harness import OUTSIDER, unique_name
from tests.hardening.support import TwineUpload, write_wheel
from tests.support.factories import make_draft


def upload(server, path, *, user: str, password: str, draft: bool = False):
    url = server.legacy_draft if draft else server.legacy
    return TwineUpload(url, path, username=user, password=password).send()


def test_an_upload_without_a_file_answers_alike_for_a_hidden_project_and_a_free_name(server, accounts, dists):
    hidden, free = unique_name("Hidden"), unique_name("free")
    wheel = write_wheel(dists, hidden, "1.0")
    assert upload(server, wheel, user="alice", password=accounts["alice"], draft=True).status_code == 200

    answers = []
    for name in (hidden, free):
        form = {":action": "file_upload", "protocol_version": "1", "name": name, "version": "1.0"}
        answers.append(server.post(server.legacy, data=form, auth=(OUTSIDER, accounts[OUTSIDER]), timeout=30))
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].text == answers[1].text
    assert answers[0].reason == answers[1].reason


def test_a_refused_upload_names_the_project_as_the_upload_did(server, accounts, dists, sql):
    display = unique_name("Hidden.Display")
    wheel = write_wheel(dists, display, "1.0")
    assert upload(server, wheel, user="alice", password=accounts["alice"], draft=True).status_code == 200
    typed = display.lower().replace(".", "-")
    assert sql.project_ids(typed), "the hidden project exists"
    attempt = write_wheel(dists, typed, "1.1")
    refused = upload(server, attempt, user=OUTSIDER, password=accounts[OUTSIDER])
    assert refused.status_code == 403
    assert display not in refused.text and display not in refused.reason
    assert typed in refused.text


def test_public_validators_reveal_no_project_id(server, accounts, dists, sql):
    name = unique_name("validated")
    wheel = write_wheel(dists, name, "1.0")
    assert upload(server, wheel, user="alice", password=accounts["alice"]).status_code == 200
    (project_id,) = sql.project_ids(name)
    pages = [server.get(f"/simple/{name}/"), server.get(f"/project/{name}/")]
    etags = [page.headers["ETag"] for page in pages]
    assert [page.status_code for page in pages] == [200, 200]
    assert all(f"p{project_id}s" not in etag and f"{project_id}:" not in etag for etag in etags), etags
    again = server.get(f"/simple/{name}/", headers={"If-None-Match": etags[0]})
    assert again.status_code == 304


@pytest.mark.django_db
def test_the_api_finds_an_existing_draft_and_a_missing_version_in_the_same_work(alice, charlie):
    make_draft("acme", "2.0", by=alice)
    _, token = create_api_token(user=charlie)
    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/projects/acme/releases/").status_code == 404  # marks the token used
    counts, answers = [], []
    for version in ("2.0", "9.9"):
        with CaptureQueriesContext(connection) as queries:
            answers.append(api.get(f"/api/v1/projects/acme/releases/{version}/"))
        # The statements' shapes, whatever their values: the same work for both.
        counts.append([re.sub(r"'[^']*'|\b\d+\b", "?", query["sql"]) for query in queries])
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json()["detail"].replace("2.0", "V") == answers[1].json()["detail"].replace("9.9", "V")
    assert counts[0] and counts[0] == counts[1], counts
