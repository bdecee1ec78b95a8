"""Fixtures of the web tests: acme (alice owns, bob maintains) with a published 1.0 and a
draft 2.0, and `secret` — a project of dave's with a draft that nobody else may see.

Releases and files are made with model-bakery (files carry fake storage keys: these
tests never download), except where a test uploads through /legacy/ itself.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from model_bakery import baker

from releases.models import File, Project, Release, Role
from releases.storage import file_key
from releases.tokens import draft_token_for, draft_token_hash, new_draft_nonce
from tests.conftest import PASSWORD


def make_release(
    project: Project,
    version: str,
    *,
    draft: bool,
    uploader: User | None = None,
    files: int = 1,
    created=None,
    **fields,
) -> Release:
    """A release as the upload pipeline leaves it: a draft holds a nonce and token hash."""
    if draft:
        nonce = new_draft_nonce()
        state = {"published": None, "draft_nonce": nonce, "draft_token_hash": draft_token_hash(draft_token_for(nonce))}
    else:
        state = {"published": timezone.now(), "draft_nonce": None, "draft_token_hash": None}
    fields.setdefault("summary", f"{project.name} {version}, a test package")
    release = baker.make(
        Release,
        project=project,
        version=version,
        canonical_version=version,
        uploader=uploader,
        created=created or timezone.now(),
        requires_dist=fields.pop("requires_dist", []),
        provides_extra=fields.pop("provides_extra", []),
        classifiers=fields.pop("classifiers", []),
        project_urls=fields.pop("project_urls", {}),
        platform=fields.pop("platform", []),
        **state,
        **fields,
    )
    for index in range(files):
        make_file(release, tag=f"py{3 + index}-none-any", uploader=uploader)
    return release


def make_file(release: Release, *, tag: str = "py3-none-any", uploader: User | None = None) -> File:
    data = secrets.token_bytes(64)
    blake2 = hashlib.blake2b(data, digest_size=32).hexdigest()
    dist = release.project.normalized_name.replace("-", "_")
    filename = f"{dist}-{release.version}-{tag}.whl"
    return File.objects.create(
        release=release,
        filename=filename,
        packagetype=File.WHEEL,
        python_version=tag.split("-")[0],
        size=len(data),
        sha256_digest=hashlib.sha256(data).hexdigest(),
        blake2_256_digest=blake2,
        md5_digest=hashlib.md5(data).hexdigest(),
        uploader=uploader,
        path=file_key(blake2, filename),
    )


@pytest.fixture
def dave(db) -> User:
    return User.objects.create_user("dave", "dave@example.org", PASSWORD)


@pytest.fixture
def published(project, alice) -> Release:
    return make_release(project, "1.0", draft=False, uploader=alice, created=timezone.now() - timedelta(days=3))


@pytest.fixture
def draft(project, bob, published) -> Release:
    return make_release(project, "2.0", draft=True, uploader=bob, files=2)


@pytest.fixture
def secret_draft(dave) -> Release:
    """`secret` 0.1, a draft of a project on which only dave has a role."""
    project = Project.objects.create(name="secret", normalized_name="secret")
    Role.objects.create(project=project, user=dave, role=Role.OWNER)
    return make_release(project, "0.1", draft=True, uploader=dave)


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
