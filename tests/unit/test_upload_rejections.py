"""Every rejected upload answers 4xx with an actionable message, and leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest
from django.test import override_settings

from releases.models import File, Project, Release
from releases.storage import file_key, object_exists
from tests.support.distributions import make_sdist, make_wheel, metadata_text, upload_fields

pytestmark = pytest.mark.django_db


def assert_rejected(response, status: int, fragment: str) -> None:
    body = response.content.decode()
    assert response.status_code == status, body
    assert fragment in body, body
    # twine prints the status line's reason: the message travels there too.
    assert fragment[:60] in response.reason_phrase or fragment in response.reason_phrase, response.reason_phrase


def test_nothing_is_stored_after_a_rejection(uploader, alice):
    filename, data = make_wheel("acme", "1.0")
    fields = upload_fields("acme", "1.0", filename, data, sha256_digest="0" * 64)
    response = uploader.post(fields, filename=filename, data=data)
    assert response.status_code == 400
    assert not Project.objects.exists()
    assert not Release.objects.exists()
    assert not File.objects.exists()


def test_missing_credentials_are_401_with_www_authenticate(uploader, alice):
    response = uploader.upload(auth="")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_is_401(uploader, alice):
    response = uploader.upload(password="wrong")
    assert response.status_code == 401
    assert "Invalid username or password" in response.content.decode()


def test_invalid_token_is_401(uploader, alice):
    response = uploader.upload(user="__token__", password="pypd-not-a-token")
    assert_rejected(response, 401, "Invalid or revoked API token")


def test_no_role_on_existing_project_is_403_and_nothing_reaches_the_bucket(uploader, project, charlie):
    filename, data = make_wheel("acme", "1.0")
    response = uploader.upload(user="charlie", wheel=(filename, data))
    assert_rejected(response, 403, "isn't allowed to upload to project 'acme'")
    assert not object_exists(file_key(hashlib.blake2b(data, digest_size=32).hexdigest(), filename))


def test_a_small_uploads_own_errors_come_before_the_403(uploader, project, charlie):
    # Its rights are checked under the project's lock, after the file was checked.
    filename, data = make_wheel("acme", "1.0")
    fields = upload_fields("acme", "1.0", filename, data, sha256_digest="0" * 64)
    response = uploader.post(fields, filename=filename, data=data, user="charlie")
    assert_rejected(response, 400, "does not match a digest")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({":action": "submit"}, "Unknown :action"),
        ({":action": None}, "Unknown :action"),
        ({"protocol_version": "2"}, "Unknown protocol_version"),
        ({"name": "-bad-"}, "Invalid project name"),
        ({"name": ""}, "Missing 'name' field"),
        ({"version": "not a version"}, "Invalid version"),
        ({"version": "1.0+local"}, "Can't use PEP 440 local versions"),
        ({"version": ""}, "Missing 'version' field"),
        ({"filetype": "sdist"}, "Invalid file extension"),
        ({"filetype": "bdist_egg"}, "Invalid filetype"),
        ({"sha256_digest": "a" * 64}, "does not match a digest"),
        ({"md5_digest": "b" * 32}, "does not match a digest"),
        ({"blake2_256_digest": "c" * 64}, "does not match a digest"),
        ({"sha256_digest": None, "md5_digest": None, "blake2_256_digest": None}, "Include at least one message digest"),
        ({"summary": "x\x00y"}, "NUL byte"),
        ({"summary": "x" * 513}, "at most 512 characters"),
        ({"requires_python": "=>3.8"}, "Invalid requires_python"),
    ],
)
def test_bad_form_fields_are_400(uploader, alice, overrides, fragment):
    filename, data = make_wheel("acme", "1.0")
    response = uploader.post(upload_fields("acme", "1.0", filename, data, **overrides), filename=filename, data=data)
    assert_rejected(response, 400, fragment)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        (
            "summary",
            "red \x1b[31malert",
            "Invalid value for summary: it contains the control character U+001B (escape)",
        ),
        ("summary", "two\nlines", "summary must be a single line"),
        ("summary", "tab\tbed", "U+0009 (tab) at character 4; summary must be one line"),
        ("author", "Mallory\x0bBrown", "Invalid value for author: it contains the control character U+000B (vertical"),
        ("author_email", "m@example.org\n", "Invalid value for author_email"),
        ("maintainer", "Eve\x7f", "U+007F (delete)"),
        ("description", "page\x0cbreak", "only tabs and line breaks are allowed in description"),
        ("license", "MIT\x85", "Invalid value for license: it contains the control character U+0085"),
        ("keywords", "a\x1fb", "Invalid value for keywords"),
        ("home_page", "https://example.org/\x07", "Invalid value for home_page"),
        ("download_url", "https://example.org/\r", "download_url must be a single line"),
        ("license_expression", "MIT\tOR Apache-2.0", "Invalid value for license_expression"),
        ("description_content_type", "text/markdown\x1b", "Invalid value for description_content_type"),
        ("classifiers", "Framework :: Django\x1b", "Invalid value for classifiers"),
        ("requires_dist", "requests\x08", "Invalid value for requires_dist"),
        ("project_urls", "Home, https://example.org/\n", "Invalid value for project_urls"),
        ("summary", "noncharacter \uffff", "U+FFFF"),
    ],
)
def test_control_characters_are_400_naming_the_field(uploader, alice, field, value, fragment):
    filename, data = make_wheel("acme", "1.0")
    response = uploader.post(
        upload_fields("acme", "1.0", filename, data, **{field: value}), filename=filename, data=data
    )
    assert_rejected(response, 400, fragment)
    assert not Release.objects.exists()


def test_tabs_and_line_breaks_are_kept_in_multi_line_fields(uploader, alice):
    filename, data = make_wheel("acme", "1.0")
    multi_line = {
        "description": "# Title\r\n\r\n\tcode\nmore",
        "license": "Line one\n\tLine two",
        "keywords": "one,\ttwo\nthree",
        "author": "C. Schultz, Universal Features Syndicate,\n        Los Angeles, CA",
        "maintainer": "Someone\r\n  Else",
    }
    fields = upload_fields("acme", "1.0", filename, data, summary="One line, with unicode: é ✓", **multi_line)
    response = uploader.post(fields, filename=filename, data=data)
    assert response.status_code == 200, response.content
    release = Release.objects.get()
    assert {name: getattr(release, name) for name in multi_line} == multi_line


def test_a_version_ending_in_a_line_break_is_read_stripped(uploader, alice):
    filename, data = make_wheel("acme", "1.0")
    response = uploader.post(upload_fields("acme", "1.0\n", filename, data), filename=filename, data=data)
    assert response.status_code == 200, response.content


def test_missing_content_is_400(uploader, alice):
    filename, data = make_wheel("acme", "1.0")
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=None, data=None)
    assert_rejected(response, 400, "does not have a file")


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [
        ("../acme-1.0-py3-none-any.whl", "must not contain '/'"),
        ("dir/acme-1.0-py3-none-any.whl", "must not contain '/'"),
        ("dir\\acme-1.0-py3-none-any.whl", "must not contain '/'"),
        ("acme-1.0-py3-none-any\x01.whl", "control characters"),
        ("acme-1.0-py3-none-any\x00.whl", "control characters"),
        ("acme-1.0 py3-none-any.whl", "Invalid filename"),
        ("acme-1.0-py3-none-any.egg", "Invalid file extension"),
        ("acme-1.0.zip", "Invalid file extension"),
        ("acme-1.0.whl", "Invalid wheel filename"),
        ("other-1.0-py3-none-any.whl", "Start filename for 'acme'"),
        ("acme-2.0-py3-none-any.whl", "Version in filename should be '1.0'"),
    ],
)
def test_bad_filenames_are_400(uploader, alice, filename, fragment):
    _, data = make_wheel("acme", "1.0")
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, fragment)


def test_sdist_filename_with_wheel_filetype_is_400(uploader, alice):
    filename, data = make_sdist("acme", "1.0")
    response = uploader.post(
        upload_fields("acme", "1.0", filename, data, filetype="bdist_wheel"), filename=filename, data=data
    )
    assert_rejected(response, 400, "Invalid file extension")


def _wheel_without(member: str) -> tuple[str, bytes]:
    return make_wheel("acme", "1.0", omit=(member,))


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: ("acme-1.0-py3-none-any.whl", b"this is not a zip file at all"), "a wheel must be a zip file"),
        (lambda: ("acme-1.0-py3-none-any.whl", b"PK\x03\x04 truncated garbage"), "not a valid zip archive"),
        (lambda: _wheel_without("{dist_info}/METADATA"), "has no acme-1.0.dist-info/METADATA"),
        (lambda: _wheel_without("{dist_info}/WHEEL"), "has no acme-1.0.dist-info/WHEEL"),
        (lambda: make_wheel("acme", "1.0", metadata=metadata_text("other", "1.0")), "names the project 'other'"),
        (lambda: make_wheel("acme", "1.0", metadata=metadata_text("acme", "2.0")), "has version '2.0'"),
        (lambda: ("acme-1.0.tar.gz", b"\x1f\x8b not really gzip"), "not a valid .tar.gz archive"),
        (lambda: ("acme-1.0.tar.gz", b"plain text"), "must be gzip-compressed"),
        (lambda: make_sdist("acme", "1.0", include_pkg_info=False), "PKG-INFO"),
        (lambda: make_sdist("acme", "1.0", pkg_info=metadata_text("acme", "3.0")), "has version '3.0'"),
    ],
)
def test_bad_archives_are_400(uploader, alice, build, fragment):
    filename, data = build()
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, fragment)
    assert not File.objects.exists()


def test_zip_bomb_is_400(uploader, alice):
    filename, data = make_wheel("acme", "1.0", extra={"acme/zeros.bin": b"\0" * (80 * 1024 * 1024)})
    assert len(data) < 1024 * 1024
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, "decompression bomb")


def test_tar_bomb_is_400(uploader, alice):
    filename, data = make_sdist("acme", "1.0", extra={"acme-1.0/zeros.bin": b"\0" * (80 * 1024 * 1024)})
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, "decompression bomb")


def test_duplicate_zip_entries_are_400(uploader, alice):
    filename, data = make_wheel("acme", "1.0")
    buffer = io.BytesIO(data)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "a") as zf:
        zf.writestr("acme/__init__.py", b"evil")
    data = buffer.getvalue()
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, "duplicate zip entry")


def test_zip_member_escaping_the_archive_is_400(uploader, alice):
    filename, data = make_wheel("acme", "1.0", extra={"../evil.py": b"x"})
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, "unsafe member path")


def test_second_sdist_in_a_release_is_400(uploader, alice):
    filename, data = make_sdist("acme", "1.0")
    assert uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data).status_code == 200
    # Another sdist filename for the same version (the name spelled differently).
    _, data2 = make_sdist("acme", "1.0", extra={"acme-1.0/extra.txt": b"more"})
    response = uploader.post(
        upload_fields("acme", "1.0", "ACME-1.0.tar.gz", data2), filename="ACME-1.0.tar.gz", data=data2
    )
    assert_rejected(response, 400, "Only one sdist may be uploaded per release")


@override_settings(PYPIDRAFT_MAX_UPLOAD_BYTES=64 * 1024)
def test_file_over_the_size_limit_is_400(uploader, alice):
    filename, data = make_wheel("acme", "1.0", extra={"acme/blob.bin": os.urandom(128 * 1024)})
    assert len(data) > 64 * 1024
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert_rejected(response, 400, "File too large")
    assert not File.objects.exists()


def test_published_file_with_different_bytes_is_file_already_exists(uploader, alice):
    assert uploader.upload().status_code == 200
    filename, data = make_wheel("acme", "1.0", module_source="changed = True\n")
    response = uploader.post(upload_fields("acme", "1.0", filename, data), filename=filename, data=data)
    assert response.status_code == 400
    assert response.content.decode().startswith("File already exists")
    assert response.reason_phrase.startswith("File already exists")


def test_identical_reupload_is_a_harmless_200(uploader, alice):
    wheel = make_wheel("acme", "1.0")
    assert uploader.upload(wheel=wheel).status_code == 200
    response = uploader.upload(wheel=wheel)
    assert response.status_code == 200
    assert "nothing changed" in response.content.decode()
    assert File.objects.count() == 1


def test_non_multipart_body_is_400(client, alice):
    from tests.conftest import PASSWORD, basic

    response = client.post(
        "/legacy/",
        data=b"x=1",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=basic("alice", PASSWORD),
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.content.decode()


def test_get_on_upload_endpoint_is_405(client):
    assert client.get("/legacy/").status_code == 405
