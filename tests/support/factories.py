"""Projects, drafts and files, built through the services the way an upload builds them.

Every test that needs a project, a draft or a published release gets it from here, so all
of them hold what the upload pipeline leaves behind: real wheel or sdist bytes in the
configured storage (SeaweedFS under `make test`), a file row with true digests and
metadata, a draft nonce and token hash, journal entries and burned filenames for what is
public, and audit events. Nothing here writes a Release or File row by hand.

    project = make_project("acme", owner=alice, maintainers=[bob])
    draft = make_draft(project, "2.0", by=bob, files=2)
    published = make_published(project, "1.0", by=alice)
    upload_file(project, "2.0", by=bob, sdist=True)        # one more file in the draft
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils.datastructures import MultiValueDict
from packaging.utils import canonicalize_name
from packaging.version import Version

from releases.accounts.authentication import Principal
from releases.models import File, Project, Release, Role
from releases.rendering import render_description
from releases.services import (
    Actor,
    IncomingFile,
    add_file_to_release,
    create_project,
    publish_release,
    set_role,
)
from releases.uploads.validation import release_metadata
from tests.support.distributions import make_sdist, make_wheel, upload_fields

# Projects are reserved and roles given the way an operator does it (manage.py): the
# command actor may act on any project, and no test user needs to be staff for it.
OPERATOR = Actor.command()

__all__ = [
    "give_role",
    "make_draft",
    "make_project",
    "make_published",
    "upload_file",
    "upload_metadata",
]


def make_project(
    name: str, *, owner: User, maintainers: Iterable[User] = (), auto_publish_releases: bool = True
) -> Project:
    """A project with no release yet, `owner` its owner and `maintainers` its maintainers."""
    project = create_project(name=name, auto_publish_releases=auto_publish_releases, actor=OPERATOR)
    give_role(project, owner, Role.OWNER)
    for user in maintainers:
        give_role(project, user)
    return project


def give_role(project: Project, user: User, role: str = Role.MAINTAINER) -> Role:
    """Give `user` a role on `project`, as an owner (or operator) does."""
    return set_role(project=project, username=user.get_username(), role=role, actor=OPERATOR)[0]


def upload_metadata(name: str, version: str, **fields: Any) -> dict[str, Any]:
    """The release metadata twine's form for `name` `version` becomes, with `fields` (Release
    field names) set on top as given: not validated, so a test can store what an attacker
    or an older version of the index could have stored."""
    form = MultiValueDict()
    for key, value in upload_fields(name, version, "x.whl", b"").items():
        form.setlist(key, [value])
    metadata = release_metadata(form)
    metadata.update(fields)
    if {"description", "description_content_type"} & set(fields) and "description_html" not in fields:
        # As the upload does: the description is rendered once, when it arrives.
        metadata["description_html"] = render_description(metadata["description"], metadata["description_content_type"])
    return metadata


def upload_file(
    project: Project | str,
    version: str,
    *,
    by: User,
    draft: bool = False,
    sdist: bool = False,
    tag: str = "py3-none-any",
    dist: tuple[str, bytes] | None = None,
    created: datetime | None = None,
    **metadata: Any,
) -> File:
    """Upload one file of `project` (a Project, or the name of a new one that `by` will own)
    `version` as `by`, the way /legacy/ does after its checks: a wheel with `tag` unless
    `sdist`, or `dist` (filename, bytes) as given. `draft` asks for a draft; a project
    without auto-publish makes one anyway. `metadata`: Release fields (summary, ...).

    `created` backdates the release: the one thing the services cannot do, since a
    release is created now.
    """
    name = project.name if isinstance(project, Project) else project
    filename, data = dist or (make_sdist(name, version) if sdist else make_wheel(name, version, tag=tag))
    fields = upload_metadata(name, version, **metadata)
    outcome = _add(name, version, filename, data, fields, by=by, draft=draft)
    if created is not None:
        Release.objects.filter(pk=outcome.release.pk).update(created=created)
        outcome.release.refresh_from_db()
    outcome.file.release = outcome.release
    return outcome.file


def make_draft(
    project: Project | str, version: str, *, by: User, files: int = 1, sdist: bool = False, **kwargs: Any
) -> Release:
    """A draft of `version` with `files` wheels (tags py3, py4, ...) and an sdist if `sdist`."""
    return _release(project, version, by=by, draft=True, files=files, sdist=sdist, **kwargs)


def make_published(
    project: Project | str, version: str, *, by: User, files: int = 1, sdist: bool = False, **kwargs: Any
) -> Release:
    """A published `version`: uploaded straight to the public index when the project
    auto-publishes, else uploaded as a draft and published by `by`."""
    release = _release(project, version, by=by, draft=False, files=files, sdist=sdist, **kwargs)
    if release.is_draft:
        release = publish_release(release=release, actor=Actor(user=by, channel="web"))
        release.refresh_from_db()
    return release


def _release(
    project: Project | str, version: str, *, by: User, draft: bool, files: int, sdist: bool, **kwargs: Any
) -> Release:
    assert files >= 1 or sdist, "a release holds at least one file"
    uploaded = [
        upload_file(project, version, by=by, draft=draft, tag=f"py{3 + index}-none-any", **kwargs)
        for index in range(files)
    ]
    if sdist:
        uploaded.append(upload_file(project, version, by=by, draft=draft, sdist=True, **kwargs))
    release = Release.objects.select_related("project").get(pk=uploaded[-1].release_id)
    assert release.files.count() == len(uploaded)
    return release


def _add(name: str, version: str, filename: str, data: bytes, metadata: dict, *, by: User, draft: bool):
    sdist = filename.endswith((".tar.gz", ".zip"))
    with tempfile.TemporaryDirectory(prefix="factory-") as folder:
        local_path = os.path.join(folder, filename)
        with open(local_path, "wb") as fh:
            fh.write(data)
        incoming = IncomingFile(
            filename=filename,
            packagetype=File.SDIST if sdist else File.WHEEL,
            python_version="source" if sdist else _python_tag(filename),
            local_path=local_path,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
            metadata=None if sdist else _wheel_metadata(data),
            requires_python=metadata.get("requires_python", ""),
        )
        # The service stores the object before it returns: the temporary copy may go then.
        return add_file_to_release(
            project_name=name,
            normalized_name=canonicalize_name(name),
            version=Version(version),
            version_string=version,
            incoming=incoming,
            metadata=metadata,
            principal=Principal(user=by, token=None),
            draft_requested=draft,
            client_ip=None,
        )


def _python_tag(filename: str) -> str:
    # name-version-python-abi-platform.whl: the python tag, as the upload reports it.
    return ".".join(sorted(filename.removesuffix(".whl").split("-")[-3].split(".")))


def _wheel_metadata(data: bytes) -> bytes | None:
    """The wheel's METADATA, served as PEP 658 metadata (what inspect_wheel extracts)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        return zf.read(names[0]) if names else None
