"""Fixtures for the maintainer API and the mirror feeds.

`acme` (owned by alice, maintained by bob) has a published 1.0 and a draft 2.0; charlie
has a role nowhere. Tokens: alice's unscoped, alice's scoped to another project, bob's,
charlie's.
"""

from __future__ import annotations

import pytest
from django.test import Client

from releases.models import Project, Release
from releases.services import create_api_token
from tests.support.factories import make_draft, make_project, make_published


class Api:
    """A JSON client for /api/v1/ that sends one token."""

    def __init__(self, client: Client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra: dict | None = None) -> dict:
        headers = dict(extra or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, data=None, **kwargs):
        return self.client.post(
            path, data, content_type="application/json", headers=self.headers(kwargs.pop("headers", None)), **kwargs
        )

    def patch(self, path: str, data=None, **kwargs):
        return self.client.patch(
            path, data, content_type="application/json", headers=self.headers(kwargs.pop("headers", None)), **kwargs
        )

    def delete(self, path: str, **kwargs):
        return self.client.delete(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)


def releases_url(project: str = "acme") -> str:
    return f"/api/v1/projects/{project}/releases/"


def release_url(version: str, project: str = "acme") -> str:
    return f"/api/v1/projects/{project}/releases/{version}/"


@pytest.fixture
def other_project(alice) -> Project:
    """'widget', owned by alice, with no release."""
    return make_project("widget", owner=alice)


@pytest.fixture
def published(project, alice) -> Release:
    return make_published(project, "1.0", by=alice)


@pytest.fixture
def draft(project, published, alice) -> Release:
    return make_draft(project, "2.0", by=alice)


@pytest.fixture
def alice_token(alice) -> str:
    return create_api_token(user=alice, description="alice, all projects")[1]


@pytest.fixture
def alice_acme_token(alice, project) -> str:
    return create_api_token(user=alice, project=project, description="alice, acme only")[1]


@pytest.fixture
def alice_widget_token(alice, other_project) -> str:
    return create_api_token(user=alice, project=other_project, description="alice, widget only")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return create_api_token(user=bob)[1]


@pytest.fixture
def charlie_token(charlie) -> str:
    return create_api_token(user=charlie)[1]


@pytest.fixture
def api_as():
    """`api_as(token)`: a fresh client (no cookies) that authenticates with `token`."""

    def make(token: str | None) -> Api:
        return Api(Client(), token)

    return make


@pytest.fixture
def alice_api(api_as, alice_token) -> Api:
    return api_as(alice_token)


@pytest.fixture
def bob_api(api_as, bob_token) -> Api:
    return api_as(bob_token)


@pytest.fixture
def charlie_api(api_as, charlie_token) -> Api:
    return api_as(charlie_token)


@pytest.fixture
def anonymous_api(api_as) -> Api:
    return api_as(None)


def download(client: Client, url: str) -> bytes:
    """The bytes behind a file URL, following the redirect to the object store under S3.

    Content-Encoding is not decoded: a mirror must get the exact bytes that were hashed.
    """
    import requests

    response = client.get(url.removeprefix("http://testserver"))
    if response.status_code == 302:
        fetched = requests.get(response["Location"], timeout=30, stream=True)
        assert fetched.status_code == 200, fetched.status_code
        return fetched.raw.read(decode_content=False)
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)
