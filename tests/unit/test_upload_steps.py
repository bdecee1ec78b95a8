"""The upload pipeline's steps, one by one, without HTTP."""

from __future__ import annotations

import hashlib

import pytest
from django.http import QueryDict
from packaging.version import Version

from releases.errors import UploadError
from releases.names import validate_project_name, validate_version
from releases.uploads.distributions import inspect_sdist, inspect_wheel, parse_filename
from releases.uploads.form import ReceivedFile, parse_is_draft
from releases.uploads.validation import check_action, check_digests, release_metadata
from tests.support.distributions import make_sdist, make_wheel


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_parse_is_draft(value, expected):
    assert parse_is_draft(value) is expected


@pytest.mark.parametrize("value", ["yes", "on", "", "truee", "01"])
def test_parse_is_draft_rejects_everything_else(value):
    with pytest.raises(UploadError) as info:
        parse_is_draft(value)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("name", "normalized"), [("Acme", "acme"), ("foo_bar.Baz", "foo-bar-baz"), ("a", "a"), ("A1-b", "a1-b")]
)
def test_valid_project_names_normalize(name, normalized):
    assert validate_project_name(name) == normalized


@pytest.mark.parametrize("name", ["-acme", "acme-", "ac me", "ac/me", "é", "a" * 201, "acme\x00"])
def test_invalid_project_names(name):
    with pytest.raises(UploadError, match="Invalid project name"):
        validate_project_name(name)


def test_versions():
    assert validate_version("1.0.0rc1") == Version("1.0.0rc1")
    with pytest.raises(UploadError, match="local versions"):
        validate_version("1.0+abc")
    with pytest.raises(UploadError, match="Invalid version"):
        validate_version("one")


def test_parse_filename_accepts_matching_wheel_and_sdist():
    info = parse_filename(
        "Acme_Tools-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        filetype="bdist_wheel",
        name="acme-tools",
        version=Version("1.0"),
    )
    assert (info.name, info.python_version) == ("acme-tools", "cp311")
    info = parse_filename("acme_tools-1.0.tar.gz", filetype="sdist", name="acme-tools", version=Version("1.0"))
    assert info.python_version == "source"


def _received(data: bytes) -> ReceivedFile:
    received = ReceivedFile(raw_name="x", tmp=None)
    for h in (received.sha256, received.blake2_256, received.md5):
        h.update(data)
    return received


def test_check_digests_accepts_any_one_correct_digest():
    data = b"payload"
    received = _received(data)
    form = QueryDict(mutable=True)
    form["sha256_digest"] = hashlib.sha256(data).hexdigest().upper()
    computed = check_digests(form, received)
    assert computed["blake2_256_digest"] == hashlib.blake2b(data, digest_size=32).hexdigest()


def test_check_digests_rejects_a_wrong_one_among_right_ones():
    data = b"payload"
    form = QueryDict(mutable=True)
    form["sha256_digest"] = hashlib.sha256(data).hexdigest()
    form["md5_digest"] = "0" * 32
    with pytest.raises(UploadError, match="md5_digest"):
        check_digests(form, _received(data))


def test_check_action():
    form = QueryDict(":action=file_upload&protocol_version=1")
    check_action(form)
    with pytest.raises(UploadError, match="Unknown :action"):
        check_action(QueryDict(":action=doc_upload"))


def test_release_metadata_parses_lists_and_urls():
    form = QueryDict(
        "summary=S&requires_python=%3E%3D3.9&classifiers=A&classifiers=B&requires_dist=requests%3E%3D2"
        "&project_urls=Homepage%2C+https%3A%2F%2Fexample.org&project_urls=broken"
    )
    metadata = release_metadata(form)
    assert metadata["classifiers"] == ["A", "B"]
    assert metadata["requires_dist"] == ["requests>=2"]
    assert metadata["project_urls"] == {"Homepage": "https://example.org"}
    assert metadata["requires_python"] == ">=3.9"


def test_release_metadata_rejects_bad_requirements():
    with pytest.raises(UploadError, match="requires_dist"):
        release_metadata(QueryDict("requires_dist=%3D%3Dbroken"))


def test_inspect_wheel_returns_metadata(tmp_path):
    filename, data = make_wheel("acme", "1.0")
    path = tmp_path / filename
    path.write_bytes(data)
    info = parse_filename(filename, filetype="bdist_wheel", name="acme", version=Version("1.0"))
    metadata = inspect_wheel(str(path), info=info, size=len(data))
    assert metadata.startswith(b"Metadata-Version: 2.4\nName: acme\n")


def test_inspect_sdist_accepts_a_real_sdist(tmp_path):
    filename, data = make_sdist("acme", "1.0")
    path = tmp_path / filename
    path.write_bytes(data)
    info = parse_filename(filename, filetype="sdist", name="acme", version=Version("1.0"))
    inspect_sdist(str(path), info=info, size=len(data))


def test_inspect_sdist_rejects_a_zip_tar_polyglot(tmp_path):
    filename, data = make_sdist("acme", "1.0")
    _, wheel = make_wheel("acme", "1.0")
    path = tmp_path / filename
    path.write_bytes(data + wheel)  # a zip appended to a gzip: both parsers accept it
    info = parse_filename(filename, filetype="sdist", name="acme", version=Version("1.0"))
    with pytest.raises(UploadError, match="polyglot"):
        inspect_sdist(str(path), info=info, size=len(data))


def test_inspect_sdist_rejects_escaping_members(tmp_path):
    filename, data = make_sdist("acme", "1.0", extra={"acme-1.0/../../etc/passwd": b"x"})
    path = tmp_path / filename
    path.write_bytes(data)
    info = parse_filename(filename, filetype="sdist", name="acme", version=Version("1.0"))
    with pytest.raises(UploadError, match="unsafe member path"):
        inspect_sdist(str(path), info=info, size=len(data))
