"""Fixtures of the web tests: acme (alice owns, bob maintains) with a published 1.0 and a
draft 2.0, and `secret` — a project of dave's with a draft that nobody else may see.

Releases and files are uploaded through the services (tests/support/factories.py), with
real bytes in the storage, except where a test uploads through /legacy/ itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from releases.models import Release
from tests.conftest import PASSWORD
from tests.support.factories import make_draft, make_project, make_published


@pytest.fixture
def dave(db) -> User:
    return User.objects.create_user("dave", "dave@example.org", PASSWORD)


@pytest.fixture
def published(project, alice) -> Release:
    return make_published(project, "1.0", by=alice, created=timezone.now() - timedelta(days=3))


@pytest.fixture
def draft(project, bob, published) -> Release:
    return make_draft(project, "2.0", by=bob, files=2)


@pytest.fixture
def secret_draft(dave) -> Release:
    """`secret` 0.1, a draft of a project on which only dave has a role."""
    return make_draft(make_project("secret", owner=dave), "0.1", by=dave)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice) -> Client:
    return signed_in(alice)


@pytest.fixture
def as_bob(bob) -> Client:
    return signed_in(bob)


@pytest.fixture
def as_charlie(charlie) -> Client:
    return signed_in(charlie)


@pytest.fixture
def as_staff(staff) -> Client:
    return signed_in(staff)
