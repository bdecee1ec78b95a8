"""Hostile input: no request a client can send gets a 5xx, and a refused upload writes nothing.

In process (every run, SQLite or PostgreSQL): every upload form field with NUL bytes, a
1 MB value and invalid UTF-8; crafted archives (bombs, polyglots, path traversal,
duplicate and disagreeing zip entries); hypothesis fuzzing of the upload form, of wheel
and sdist bytes, of METADATA, of the read-side URLs and of XML-RPC; bad Authorization
headers and wrong methods.

Against the real server (make test): what only a real HTTP stack shows — malformed and
truncated multipart bodies, a Content-Length larger than the body from a client that
went away, huge headers and request lines, non-UTF-8 bytes in headers and filenames —
each answered with a 4xx within a bounded time, and nothing but 4xx in the server log.
"""

from __future__ import annotations

import base64
import os
import string
import time
import xmlrpc.client
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases.models import AuditEvent, BurnedFilename, File, JournalEntry, Project, Release, Role
from releases.storage.integrity import check_storage
from tests.conftest import PASSWORD, basic
from tests.e2e.harness import unique_name
from tests.hardening import archives
from tests.hardening.support import (
    BOUNDARY,
    as_bytes,
    http_request,
    multipart_body,
    multipart_type,
    raw_request,
)
from tests.support.distributions import make_sdist, make_wheel, upload_fields
from tests.support.factories import make_draft, make_published

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Everything twine (7) may send in an upload, plus the legacy API's own fields.
FORM_FIELDS = [
    ":action",
    "protocol_version",
    "name",
    "version",
    "filetype",
    "pyversion",
    "metadata_version",
    "summary",
    "description",
    "description_content_type",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "license_file",
    "keywords",
    "home_page",
    "download_url",
    "requires_python",
    "requires_dist",
    "provides_extra",
    "classifiers",
    "project_urls",
    "platform",
    "supported_platform",
    "dynamic",
    "comment",
    "md5_digest",
    "sha256_digest",
    "blake2_256_digest",
    "attestations",
]
ONE_MB = 1024 * 1024
HOSTILE_VALUES = {
    "NUL bytes": b"1.0\x00\x00evil\x00",
    "a 1 MB value": b"a" * ONE_MB,
    "invalid UTF-8": b"caf\xe9 \xff\xfe\xc3\x28 \xed\xa0\x80",
    "CR LF and a fake part": b"x\r\n--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="name"\r\n\r\nother',
}


def footprint() -> tuple[int, ...]:
    """Everything an upload could write, counted."""
    return tuple(m.objects.count() for m in (Project, Role, Release, File, JournalEntry, BurnedFilename, AuditEvent))


def assert_storage_consistent() -> None:
    report = check_storage()
    assert (report.orphans, report.missing) == ([], []), report


def post_form(client, fields, file=None, *, path="/legacy/draft/", auth=None, boundary=BOUNDARY, **extra):
    body = multipart_body(fields, file, boundary=boundary)
    return client.generic(
        "POST",
        path,
        body,
        content_type=multipart_type(boundary),
        HTTP_AUTHORIZATION=auth if auth is not None else basic("alice", PASSWORD),
        **extra,
    )


def valid_upload(name: str = "acme", version: str = "1.0") -> tuple[list[tuple[str, str]], tuple[str, bytes]]:
    filename, data = make_wheel(name, version)
    return list(upload_fields(name, version, filename, data).items()), (filename, data)


def fields_for(filename: str, data: bytes, name: str = "acme", version: str = "1.0") -> list[tuple[str, str]]:
    return list(upload_fields(name, version, filename, data).items())


def assert_refused_cleanly(response, before: tuple[int, ...]) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert footprint() == before, "a refused upload wrote rows"


# --- every form field -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(HOSTILE_VALUES))
def test_hostile_values_in_every_upload_field_get_a_4xx_or_are_stored_safely(client, project, kind, subtests):
    fields, file = valid_upload()
    value = HOSTILE_VALUES[kind]
    for field in FORM_FIELDS:
        with subtests.test(field=field):
            replaced = [(name, value if name == field else v) for name, v in fields]
            if field not in dict(fields):
                replaced.append((field, value))
            before = footprint()

            response = post_form(client, replaced, file)

            assert_refused_cleanly(response, before)
            if kind == "NUL bytes":
                assert response.status_code == 400
            if response.status_code == 200:
                # Accepted free text went into the one release (a draft) and its one file.
                assert Release.objects.filter(project=project).count() == 1
                assert File.objects.filter(release__project=project).count() == 1
    assert_storage_consistent()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(HOSTILE_VALUES))
def test_hostile_values_as_field_names_and_filenames_get_a_4xx(client, project, kind):
    fields, (filename, data) = valid_upload()
    value = HOSTILE_VALUES[kind]

    # An unknown field name is ignored (twine sends fields we do not use), never an error.
    assert post_form(client, [*fields, (value, b"1")], (filename, data)).status_code < 500
    before = footprint()
    for bad_filename in (value, as_bytes(filename) + value):
        response = post_form(client, fields, (bad_filename, data))
        assert response.status_code == 400, response.content[:300]
    assert footprint() == before
    assert_storage_consistent()


# --- crafted archives --------------------------------------------------------------------

HOSTILE_ARCHIVES = {
    "zip bomb (80 MiB of zeros)": lambda n, v: archives.zip_bomb_wheel(n, v),
    "zip bomb (forged sizes)": lambda n, v: archives.forged_size_bomb_wheel(n, v),
    "zip member ../": lambda n, v: archives.wheel_with_member(n, v, "../evil.py"),
    "zip member a/../../": lambda n, v: archives.wheel_with_member(n, v, "pkg/../../evil.py"),
    "zip member absolute": lambda n, v: archives.wheel_with_member(n, v, "/etc/evil.py"),
    "zip member backslash ..": lambda n, v: archives.wheel_with_member(n, v, "pkg\\..\\..\\evil.py"),
    "zip member drive letter": lambda n, v: archives.wheel_with_member(n, v, "C:/evil.py"),
    "duplicate zip entry (METADATA)": lambda n, v: archives.wheel_with_duplicate(n, v),
    "duplicate zip entry (RECORD)": lambda n, v: archives.wheel_with_duplicate(n, v, member="RECORD"),
    "zip/tar polyglot wheel": lambda n, v: archives.tar_polyglot_wheel(n, v),
    "two zips concatenated": lambda n, v: archives.concatenated_zips_wheel(n, v),
    "local header name differs": lambda n, v: archives.mismatched_local_name_wheel(n, v),
    "encrypted METADATA": lambda n, v: archives.encrypted_metadata_wheel(n, v),
    "corrupt METADATA stream": lambda n, v: archives.corrupt_metadata_stream_wheel(n, v),
    "5000-digit version in METADATA": lambda n, v: archives.huge_version_wheel(n, v, where="METADATA"),
    "5000-digit version in .dist-info": lambda n, v: archives.huge_version_wheel(n, v, where="dist-info"),
    "gzip bomb sdist (80 MiB of zeros)": lambda n, v: archives.gzip_bomb_sdist(n, v),
    "tar/zip polyglot sdist": lambda n, v: archives.zip_polyglot_sdist(n, v),
    "tar member ../": lambda n, v: archives.sdist_with(n, v, *archives.file_entry("../evil.py")),
    "tar member a/../../": lambda n, v: archives.sdist_with(
        n, v, *archives.file_entry(f"{archives.top(n, v)}/../../evil.py")
    ),
    "tar member absolute": lambda n, v: archives.sdist_with(n, v, *archives.file_entry("/tmp/evil.py")),
    "tar symlink to ../": lambda n, v: archives.sdist_with(
        n, v, archives.link_entry(f"{archives.top(n, v)}/x", "../../etc")
    ),
    "tar symlink absolute": lambda n, v: archives.sdist_with(
        n, v, archives.link_entry(f"{archives.top(n, v)}/x", "/etc/passwd")
    ),
    "tar hardlink to ../": lambda n, v: archives.sdist_with(
        n, v, archives.link_entry(f"{archives.top(n, v)}/x", "../outside", hard=True)
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(HOSTILE_ARCHIVES))
def test_hostile_archives_are_rejected_with_400(client, project, case):
    filename, data = HOSTILE_ARCHIVES[case]("acme", "1.0")
    before = footprint()

    response = post_form(client, fields_for(filename, data), (filename, data))

    assert response.status_code == 400, response.content[:500]
    assert response.content.decode().startswith("Invalid distribution file"), response.content[:500]
    assert footprint() == before
    assert_storage_consistent()


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["/legacy/", "/legacy/draft/"])
def test_the_same_bytes_under_a_second_filename_get_400_file_already_exists(client, project, endpoint):
    """Digests are unique in the database: a renamed copy must be refused, not crash the insert."""
    filename, data = make_wheel("acme", "1.0")
    assert post_form(client, fields_for(filename, data), (filename, data), path=endpoint).status_code == 200
    renamed = "acme-1.0-py2.py3-none-any.whl"
    before = footprint()

    response = post_form(client, fields_for(renamed, data), (renamed, data), path=endpoint)

    assert response.status_code == 400, response.content[:300]
    assert response.content.decode().startswith("File already exists")  # twine --skip-existing
    assert footprint() == before
    assert_storage_consistent()


@pytest.mark.django_db
def test_replacing_a_draft_file_with_another_files_bytes_gets_400(client, project):
    one = make_wheel("acme", "1.0", module_source="# one\n")
    two = make_wheel("acme", "1.0", tag="py2-none-any", module_source="# two\n")
    for filename, data in (one, two):
        assert post_form(client, fields_for(filename, data), (filename, data)).status_code == 200
    before = footprint()

    # one's name, two's bytes: a replacement whose digests another file already has.
    response = post_form(client, fields_for(one[0], two[1]), (one[0], two[1]))

    assert response.status_code == 400, response.content[:300]
    assert response.content.decode().startswith("File already exists")
    assert footprint() == before
    assert_storage_consistent()


# --- fuzzing the upload form -----------------------------------------------------------

raw_values = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from(
        [
            "",
            "\x00",
            "acme",
            "ACME",
            "acme_",
            "1.0",
            "1.0+local",
            "01.0",
            "bdist_wheel",
            "sdist",
            "file_upload",
            "../../etc/passwd",
            "acme-1.0-py3-none-any.whl",
            ">=3.8",
            "foo (>=1)",
            "Homepage, https://example.org",
            "<script>alert(1)</script>",
            "%00",
            "\r\n",
            "a" * 5000,
            "9" * 5000,
        ]
    ),
)
field_names = st.one_of(st.sampled_from(FORM_FIELDS), st.text(max_size=20), st.binary(max_size=20))


@pytest.mark.django_db
@settings(FUZZ, max_examples=150)
@given(
    overrides=st.lists(st.tuples(field_names, raw_values), max_size=8),
    dropped=st.sets(st.sampled_from(FORM_FIELDS), max_size=4),
    filename=st.one_of(st.none(), st.just("acme-1.0-py3-none-any.whl"), st.text(max_size=80), st.binary(max_size=80)),
    endpoint=st.sampled_from(["/legacy/", "/legacy/draft/"]),
)
def test_fuzzed_upload_forms_never_get_a_5xx_and_refusals_write_nothing(
    client, project, overrides, dropped, filename, endpoint
):
    fields, (good_name, data) = valid_upload()
    fields = [(k, v) for k, v in fields if k not in dropped] + overrides
    before = footprint()

    response = post_form(client, fields, (good_name if filename is None else filename, data), path=endpoint)

    assert_refused_cleanly(response, before)


# --- fuzzing archive bytes -------------------------------------------------------------


def mutations(size: int):
    """Byte overwrites, a truncation, an insertion or a splice, somewhere in `size` bytes."""
    position = st.integers(0, max(size - 1, 0))
    return st.one_of(
        st.lists(st.tuples(position, st.integers(0, 255)), min_size=1, max_size=16).map(lambda w: ("overwrite", w)),
        position.map(lambda p: ("truncate", p)),
        st.tuples(position, st.binary(min_size=1, max_size=64)).map(lambda t: ("insert", t)),
        st.tuples(position, st.integers(1, 64), st.binary(max_size=64)).map(lambda t: ("splice", t)),
    )


def mutate(data: bytes, mutation) -> bytes:
    kind, how = mutation
    buffer = bytearray(data)
    if not buffer:
        return bytes(buffer)
    if kind == "overwrite":
        for position, value in how:
            buffer[position % len(buffer)] = value
    elif kind == "truncate":
        del buffer[how:]
    elif kind == "insert":
        position, extra = how
        buffer[position:position] = extra
    else:
        position, length, extra = how
        buffer[position : position + length] = extra
    return bytes(buffer)


ORIGINALS = {
    "wheel (deflated)": lambda: make_wheel("acme", "1.0"),
    "wheel (stored)": lambda: archives.stored_wheel("acme", "1.0"),
    "sdist": lambda: make_sdist("acme", "1.0"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("original", list(ORIGINALS))
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_distributions_never_get_a_5xx_and_refusals_write_nothing(client, project, original, data):
    filename, pristine = ORIGINALS[original]()
    mutated = mutate(pristine, data.draw(mutations(len(pristine)), label="mutation"))
    before = footprint()

    response = post_form(client, fields_for(filename, mutated), (filename, mutated))

    assert_refused_cleanly(response, before)


@pytest.mark.django_db
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_mutated_tar_headers_inside_a_valid_gzip_never_get_a_5xx(client, project, data):
    """Mutations of the tar layer itself (headers, pax records, sizes), gzip'd afterwards."""
    tar = archives.plain_tar("acme", "1.0")
    mutated = archives.gzip_bytes(mutate(tar, data.draw(mutations(min(len(tar), 4096)), label="mutation")))
    filename = "acme-1.0.tar.gz"
    before = footprint()

    response = post_form(client, fields_for(filename, mutated), (filename, mutated))

    assert_refused_cleanly(response, before)


metadata_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "Metadata-Version: 2.4",
                "Metadata-Version: 99",
                "Name: acme",
                "Name: other",
                "Version: 1.0",
                "Version: 1.0.0.0",
                "Version: 1" + "0" * 5000,
                "Version: not a version",
                "Requires-Dist: foo (>=1",
                "Requires-Python: >=3.8,,",
                "Description-Content-Type: text/markdown; charset=klingon",
                "Dynamic: Name",
                "",
                " continued",
            ]
        ),
        st.text(max_size=100).map(lambda t: f"{t}: {t}"),
        st.text(max_size=100),
    ),
    max_size=12,
)


@pytest.mark.django_db
@settings(FUZZ, max_examples=80)
@given(lines=metadata_lines, raw=st.binary(max_size=100), as_sdist=st.booleans())
def test_fuzzed_metadata_never_gets_a_5xx(client, project, lines, raw, as_sdist):
    text = "\n".join(["Metadata-Version: 2.4", "Name: acme", "Version: 1.0", *lines])
    metadata = text.encode("utf-8", "surrogatepass") + raw
    if as_sdist:
        filename, data = archives.sdist_with(
            "acme", "1.0", *archives.file_entry("acme-1.0/PKG-INFO", metadata)
        )  # a second PKG-INFO, read after the first
    else:
        filename, members = archives.wheel_members("acme", "1.0")
        target = "acme-1.0.dist-info/METADATA"
        data = archives.zip_of([(p, metadata if p == target else d) for p, d in members])
    before = footprint()

    response = post_form(client, fields_for(filename, data), (filename, data))

    assert_refused_cleanly(response, before)


# --- the read side: URLs, XML-RPC -------------------------------------------------------

URL_TEMPLATES = [
    "/simple/{0}/",
    "/simple/{0}",
    "/simple/draft/{0}/",
    "/simple/draft/{0}/{1}/",
    "/simple/draft/{0}/packages/{1}/{2}/{3}/{4}",
    "/packages/{0}/{1}/{2}/{3}",
    "/project/{0}/",
    "/project/{0}/{1}/",
    "/project/{0}/{1}--draft--{2}/",
    "/pypi/{0}/json",
    "/pypi/{0}/{1}/json",
    "/rss/project/{0}/releases.xml",
    "/api/v1/projects/{0}/",
    "/api/v1/projects/{0}/releases/",
    "/api/v1/projects/{0}/releases/{1}/",
    "/manage/projects/{0}/",
    "/{0}",
]


@pytest.fixture
def published_and_draft(project, alice):
    """acme 1.0 published and 2.0 a draft; returns (draft token, a published file path)."""
    from releases.services import draft_token

    published = make_published(project, "1.0", by=alice)
    draft = make_draft(project, "2.0", by=alice)
    return draft_token(draft), published.files.get().path


@pytest.mark.django_db
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_fuzzed_read_side_urls_never_get_a_5xx(client, published_and_draft, data):
    token, path = published_and_draft
    known = ["acme", "ACME", "1.0", "2.0", token, token.upper(), *path.split("/"), "..", ".", "%2e", "--draft--"]
    segment = st.one_of(
        st.sampled_from(known),
        st.text(max_size=40),
        st.binary(max_size=40),
        st.text(alphabet=string.digits + ".", min_size=1, max_size=300),
    )
    template = data.draw(st.sampled_from(URL_TEMPLATES), label="template")
    # NUL bytes in paths have a test of their own (a known 500 on PostgreSQL, below).
    drawn = [as_bytes(data.draw(segment, label=f"segment {i}")).replace(b"\x00", b"") for i in range(5)]
    parts = [quote(value, safe="") or "x" for value in drawn]
    query = data.draw(st.sampled_from(["", "?format=application/vnd.pypi.simple.v1+json", "?format=" + parts[4]]))
    accept = data.draw(st.one_of(st.none(), st.text(max_size=60).map(lambda t: t.encode("utf-8").decode("latin-1"))))
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}

    response = client.get(template.format(*parts) + query, **headers)

    assert response.status_code < 500, (template, parts, query, accept)


@pytest.mark.django_db
@settings(FUZZ, max_examples=50)
@given(range_header=st.one_of(st.text(max_size=40), st.from_regex(r"bytes=\d{0,20}-\d{0,20}", fullmatch=True)))
def test_fuzzed_range_headers_on_downloads_never_get_a_5xx(client, published_and_draft, range_header):
    _token, path = published_and_draft
    header = range_header.encode("utf-8").decode("latin-1")
    response = client.get(f"/packages/{path}", HTTP_RANGE=header)
    assert response.status_code < 500


def xmlrpc_values():
    scalars = st.one_of(
        st.integers(-(2**31), 2**31 - 1),
        st.booleans(),
        st.floats(allow_nan=True),
        st.text(max_size=50),
        st.binary(max_size=20).map(xmlrpc.client.Binary),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
        max_leaves=12,
    )


XMLRPC_METHODS = [
    "list_packages",
    "list_packages_with_serial",
    "changelog_last_serial",
    "changelog_since_serial",
    "changelog",
    "package_releases",
    "release_urls",
    "system.multicall",
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
    "__init__",
    "_dispatch",
    "request.user",
]


@pytest.mark.django_db
@settings(FUZZ, max_examples=120)
@given(
    method=st.one_of(st.sampled_from(XMLRPC_METHODS), st.text(max_size=30)),
    params=st.lists(xmlrpc_values(), max_size=4),
    damage=st.one_of(st.none(), mutations(200)),
)
def test_fuzzed_xmlrpc_calls_never_get_a_5xx(client, published_and_draft, method, params, damage):
    body = xmlrpc.client.dumps(tuple(params), method.replace("\x00", "")).encode("utf-8", "surrogatepass")
    if damage is not None:
        body = mutate(body, damage)

    response = client.generic("POST", "/pypi", body, content_type="text/xml")

    assert response.status_code < 500


XMLRPC_ATTACKS = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
    + b"]><methodCall><methodName>package_releases</methodName><params><param><value><string>&j;"
    b"</string></value></param></params></methodCall>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<methodCall><methodName>package_releases</methodName><params><param><value><string>&e;"
    b"</string></value></param></params></methodCall>",
    "deep nesting": b"<methodCall><methodName>list_packages</methodName><params><param><value>"
    + b"<array><data><value>" * 20000
    + b"</value></data></array>" * 20000
    + b"</value></param></params></methodCall>",
    "huge integer": b"<methodCall><methodName>changelog_since_serial</methodName><params><param><value><int>"
    + b"9" * 5000
    + b"</int></value></param></params></methodCall>",
    "huge timestamp": b"<methodCall><methodName>changelog</methodName><params><param><value><i8>"
    + b"9223372036854775807</i8></value></param></params></methodCall>",
    "not XML": b"\x00\xff\xfe garbage",
    "empty": b"",
    "over the size limit": b"<methodCall>" + b" " * (300 * 1024) + b"</methodCall>",
}


@pytest.mark.django_db
@pytest.mark.parametrize("attack", list(XMLRPC_ATTACKS))
def test_hostile_xmlrpc_bodies_get_a_fault_or_a_4xx_promptly(client, published_and_draft, attack):
    started = time.monotonic()
    response = client.generic("POST", "/pypi", XMLRPC_ATTACKS[attack], content_type="text/xml")
    assert response.status_code < 500
    assert time.monotonic() - started < 10
    assert b"root:" not in response.content  # /etc/passwd never comes back


# --- credentials and methods ------------------------------------------------------------

BAD_AUTHORIZATION = {
    "empty": "",
    "scheme only": "Basic",
    "scheme and space": "Basic ",
    "not base64": "Basic !!!not-base64!!!",
    "base64 of invalid UTF-8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "no colon": "Basic " + base64.b64encode(b"alice").decode(),
    "NUL in password": "Basic " + base64.b64encode(b"alice:\x00").decode(),
    "NUL in username": "Basic " + base64.b64encode(b"al\x00ice:" + PASSWORD.encode()).decode(),
    "only NUL": "Basic " + base64.b64encode(b"\x00:\x00").decode(),
    "very long": "Basic " + base64.b64encode(b"alice:" + b"x" * 6000).decode(),
    "token, empty": "Basic " + base64.b64encode(b"__token__:").decode(),
    "token, garbage": "Basic " + base64.b64encode(b"__token__:pypd-" + b"A" * 300).decode(),
    "bearer on upload": "Bearer pypd-nonsense",
    "unknown scheme": "Digest username=alice",
    "latin-1 bytes": "Basic \xff\xfe\xe9",
}


@pytest.mark.django_db
@pytest.mark.parametrize("header", list(BAD_AUTHORIZATION))
def test_bad_authorization_headers_get_401_on_upload_and_api(client, project, header):
    fields, file = valid_upload()
    before = footprint()

    upload = post_form(client, fields, file, auth=BAD_AUTHORIZATION[header])
    api = client.get("/api/v1/projects/acme/releases/", HTTP_AUTHORIZATION=BAD_AUTHORIZATION[header])

    assert upload.status_code == 401, upload.content[:300]
    assert upload["WWW-Authenticate"].startswith("Basic")
    assert api.status_code == 401, api.content[:300]
    assert footprint() == before


WRONG_METHODS = [
    ("GET", "/legacy/"),
    ("PUT", "/legacy/"),
    ("PATCH", "/legacy/draft/"),
    ("DELETE", "/legacy/draft/"),
    ("OPTIONS", "/legacy/"),
    ("TRACE", "/legacy/"),
    ("POST", "/simple/"),
    ("PUT", "/simple/acme/"),
    ("DELETE", "/packages/aa/bb/cc/acme-1.0.tar.gz"),
    ("POST", "/project/acme/"),
    ("GET", "/pypi"),
    ("PUT", "/pypi/acme/json"),
    ("PUT", "/api/v1/projects/acme/releases/2.0/publish/"),
    ("GET", "/api/v1/projects/acme/releases/2.0/publish/"),
    ("BREW", "/simple/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_wrong_methods_get_a_4xx(client, project, method, path):
    response = client.generic(method, path, HTTP_AUTHORIZATION=basic("alice", PASSWORD))
    assert 400 <= response.status_code < 500, (method, path, response.status_code)


# --- malformed multipart, in process and on the real server -----------------------------


def malformed_bodies() -> dict[str, tuple[str, bytes]]:
    """(Content-Type, body) of broken multipart requests around an otherwise valid upload."""
    fields, file = valid_upload()
    good = multipart_body(fields, file)
    file_start = good.index(b'name="content"')
    return {
        "no boundary parameter": ("multipart/form-data", good),
        "empty boundary": ("multipart/form-data; boundary=", good),
        "boundary not in the body": (multipart_type(b"somethingElse"), good),
        "boundary over 200 characters": (multipart_type(b"b" * 300), multipart_body(fields, file, boundary=b"b" * 300)),
        "body truncated inside the file": (multipart_type(), good[: file_start + 400]),
        "no closing boundary": (multipart_type(), good[: -len(b"--" + BOUNDARY + b"--\r\n")]),
        "part without headers": (multipart_type(), b"--" + BOUNDARY + b"\r\n\r\nvalue\r\n--" + BOUNDARY + b"--\r\n"),
        "garbage base64 file part": (
            multipart_type(),
            good.replace(b"Content-Type: application/octet-stream", b"Content-Transfer-Encoding: base64"),
        ),
        "only a preamble": (multipart_type(), b"just some text without any boundary at all"),
        "two files in content": (
            multipart_type(),
            multipart_body(fields, file)[: -len(b"--" + BOUNDARY + b"--\r\n")] + multipart_body([], file),
        ),
        "5000 form fields": (multipart_type(), multipart_body([*fields, *[(f"f{i}", "x") for i in range(5000)]], file)),
        "a 17 MB form field": (multipart_type(), multipart_body([*fields, ("description", "d" * (17 * ONE_MB))], file)),
        "form-urlencoded instead": ("application/x-www-form-urlencoded", b":action=file_upload&name=acme"),
        "not a form": ("application/json", b'{"name": "acme"}'),
    }


MALFORMED = list(malformed_bodies())


@pytest.mark.django_db
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_multipart_gets_400_in_process(client, project, case):
    content_type, body = malformed_bodies()[case]
    before = footprint()
    response = client.generic(
        "POST", "/legacy/draft/", body, content_type=content_type, HTTP_AUTHORIZATION=basic("alice", PASSWORD)
    )
    assert response.status_code == 400, response.content[:300]
    assert footprint() == before


# --- on the real server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_project(server, alice_token, accounts):
    """A project of alice on the live server with a published wheel; (name, token header)."""
    name = unique_name("hostile")
    filename, data = make_wheel(name, "1.0")
    response = requests.post(
        server.legacy,
        data=multipart_body(list(upload_fields(name, "1.0", filename, data).items()), (filename, data)),
        headers={"Content-Type": multipart_type(), "Authorization": basic("__token__", alice_token)},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return name, basic("__token__", alice_token)


def live_fields(name: str, version: str = "2.0") -> tuple[list[tuple[str, str]], tuple[str, bytes]]:
    filename, data = make_wheel(name, version)
    return list(upload_fields(name, version, filename, data).items()), (filename, data)


def assert_server_is_well(server, server_log) -> None:
    assert requests.get(server.simple, timeout=10).status_code == 200
    assert server_log.server_errors() == []


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_multipart_gets_400_from_the_real_server(server, live_project, sql, server_log, case):
    name, auth = live_project
    content_type, body = malformed_bodies()[case]
    body = body.replace(b"acme", name.replace("-", "_").encode()) if b"acme" in body else body
    files_before = sql.files(name)

    response = requests.post(
        server.legacy_draft, data=body, headers={"Content-Type": content_type, "Authorization": auth}, timeout=15
    )

    assert 400 <= response.status_code < 500, response.text[:300]
    assert sql.files(name) == files_before
    assert_server_is_well(server, server_log)


@pytest.mark.parametrize("pause", [0.0, 1.0], ids=["at once", "after a second"])
def test_a_client_that_leaves_before_sending_the_whole_body_gets_a_4xx_or_nothing(
    server, live_project, sql, server_log, pause
):
    """Content-Length promises more than is sent, then the client shuts its side."""
    name, auth = live_project
    fields, file = live_fields(name)
    body = multipart_body(fields, file)
    sent = body[: body.index(b'name="content"') + 300]  # part of the file, then nothing
    request = http_request(
        "POST",
        "/legacy/draft/",
        server.url.removeprefix("http://"),
        {"Content-Type": multipart_type(), "Authorization": auth, "Content-Length": str(len(body) + 10_000)},
        sent,
    )
    files_before = sql.files(name)

    answer = raw_request(server.url, request, half_close=True, pause=pause, timeout=20)

    assert answer.status is None or 400 <= answer.status < 500, answer.head
    if answer.status is not None:
        assert b"truncated" in answer.body, answer.body
    assert answer.seconds < 20
    assert sql.files(name) == files_before
    assert_server_is_well(server, server_log)


FRAMING = {
    "Content-Length not a number": {"Content-Length": "12abc"},
    "negative Content-Length": {"Content-Length": "-5"},
    "two Content-Lengths": {"Content-Length": "10", "content-length": "20"},
    "chunked and Content-Length": {"Transfer-Encoding": "chunked", "Content-Length": "10"},
    "unknown Transfer-Encoding": {"Transfer-Encoding": "gzip, identity"},
}


@pytest.mark.parametrize("case", list(FRAMING))
def test_broken_request_framing_gets_a_4xx_from_the_real_server(server, live_project, sql, server_log, case):
    name, auth = live_project
    fields, file = live_fields(name)
    headers = {"Content-Type": multipart_type(), "Authorization": auth, **FRAMING[case]}
    request = http_request("POST", "/legacy/draft/", server.url.removeprefix("http://"), headers, b"")
    request += multipart_body(fields, file)  # the body, whatever the headers claim
    files_before = sql.files(name)

    answer = raw_request(server.url, request, half_close=True, timeout=15)

    assert answer.status is None or 400 <= answer.status < 500, answer.head
    assert sql.files(name) == files_before
    assert_server_is_well(server, server_log)


@pytest.mark.parametrize(
    "case",
    ["header over 8 KiB", "200 headers", "request line over 4 KiB", "version past the int limit in a URL"],
)
def test_huge_headers_and_request_lines_get_a_4xx_from_the_real_server(server, server_log, case):
    host = server.url.removeprefix("http://")
    if case == "header over 8 KiB":
        request = http_request("GET", "/simple/", host, {"X-Padding": "a" * 10_000})
    elif case == "200 headers":
        request = http_request("GET", "/simple/", host, {f"X-Header-{i}": "v" for i in range(200)})
    elif case == "request line over 4 KiB":
        request = http_request("GET", "/simple/" + "a" * 5000 + "/", host)
    else:
        request = http_request("GET", "/pypi/acme/" + "1" * 5000 + "/json", host)

    answer = raw_request(server.url, request, timeout=10)

    assert answer.status is not None and 400 <= answer.status < 500, answer.head
    assert_server_is_well(server, server_log)


@pytest.mark.parametrize(
    "header",
    [
        b"Basic \xff\xfe\xfd",
        b"Bearer \xc3\x28",
        b"Basic " + base64.b64encode(b"alice:\xe9t\xe9"),
        b"\x00\x01\x02",
        b"Basic " + b"A" * 7000,
    ],
    ids=["raw latin-1", "raw invalid UTF-8", "base64 of latin-1", "control bytes", "7000 bytes"],
)
def test_non_utf8_authorization_headers_get_a_4xx_from_the_real_server(server, live_project, sql, server_log, header):
    name, _auth = live_project
    fields, file = live_fields(name)
    body = multipart_body(fields, file)
    request = http_request(
        "POST",
        "/legacy/draft/",
        server.url.removeprefix("http://"),
        {"Content-Type": multipart_type(), "Authorization": header},
        body,
    )

    answer = raw_request(server.url, request, timeout=15)

    assert answer.status is not None and 400 <= answer.status < 500, answer.head
    assert_server_is_well(server, server_log)


@pytest.mark.parametrize(
    "filename",
    [b"caf\xe9-1.0.tar.gz", b"\xff\xfe.whl", b"x\x00y.whl", b"a" * 300_000, b"../../../etc/passwd"],
    ids=["latin-1", "invalid UTF-8", "NUL", "300 kB", "path traversal"],
)
def test_hostile_filenames_get_400_from_the_real_server(server, live_project, sql, server_log, filename):
    name, auth = live_project
    fields, (_good, data) = live_fields(name)
    files_before = sql.files(name)

    response = requests.post(
        server.legacy_draft,
        data=multipart_body(fields, (filename, data)),
        headers={"Content-Type": multipart_type(), "Authorization": auth},
        timeout=15,
    )

    assert response.status_code == 400, response.text[:300]
    assert sql.files(name) == files_before
    assert_server_is_well(server, server_log)


@pytest.mark.parametrize("case", list(HOSTILE_ARCHIVES))
def test_hostile_archives_get_400_from_the_real_server(server, live_project, sql, server_log, case):
    name, auth = live_project
    filename, data = HOSTILE_ARCHIVES[case](name, "3.0")
    files_before = sql.files(name)

    response = requests.post(
        server.legacy_draft,
        data=multipart_body(fields_for(filename, data, name, "3.0"), (filename, data)),
        headers={"Content-Type": multipart_type(), "Authorization": auth},
        timeout=30,
    )

    assert response.status_code == 400, response.text[:300]
    assert response.text.startswith("Invalid distribution file"), response.text[:300]
    assert sql.files(name) == files_before
    assert_server_is_well(server, server_log)


# --- numbers past Python's int parsing limit (4300 digits) -------------------------------

FILESYSTEM = os.environ.get("PYPIDRAFT_STORAGE", "filesystem") != "s3"
HUGE = "1" * 5000


@pytest.mark.django_db
@pytest.mark.parametrize(
    "request_kind",
    [
        "Range header",
        # Behind gunicorn these URLs exceed the 4094-byte request line (a 414, see
        # test_huge_headers_and_request_lines_get_a_4xx_from_the_real_server).
        "JSON API version",
        "maintainer API version",
        "XML-RPC version",
    ],
)
def test_numbers_past_the_int_parsing_limit_never_get_a_5xx(client, published_and_draft, alice, request_kind):
    from releases.services import create_api_token

    _token, path = published_and_draft
    if request_kind == "Range header":
        response = client.get(f"/packages/{path}", HTTP_RANGE=f"bytes={HUGE}-")
    elif request_kind == "JSON API version":
        response = client.get(f"/pypi/acme/{HUGE}/json")
    elif request_kind == "maintainer API version":
        token = create_api_token(user=alice)[1]
        response = client.get(f"/api/v1/projects/acme/releases/{HUGE}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        call = xmlrpc.client.dumps(("acme", HUGE), "release_urls").encode()
        response = client.generic("POST", "/pypi", call, content_type="text/xml")
    assert response.status_code < 500


# --- NUL bytes in URL paths --------------------------------------------------------------

NUL_PATHS = {
    "simple project": ("/simple/%00/", "simpleindex/views.py project_detail"),
    "project page": ("/project/%00/", "releases/views.py _public_project"),
    "release page": ("/project/acme/%00/", "releases/views.py release_page"),
    "JSON API": ("/pypi/%00/json", "simpleindex/jsonapi.py"),
    "JSON API version": ("/pypi/acme/%00/json", "simpleindex/jsonapi.py"),
    "RSS": ("/rss/project/%00/releases.xml", "simpleindex/feeds.py"),
    "download": ("/packages/aa/bb/" + "c" * 60 + "/a%00.whl", "simpleindex/views.py _find_file"),
    "maintainer API": ("/api/v1/projects/%00/releases/", "releases/api/views.py get_project"),
    "dashboard": ("/manage/projects/%00/", "releases/dashboard/views.py _project_for"),
}
NUL_PATHS_SAFE = {
    "draft index": "/simple/draft/%00/",
    "draft project index": "/simple/draft/%00/acme/",
    "preview": "/project/acme/1.0--draft--%00/",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        *(pytest.param(path, id=what) for what, (path, _where) in NUL_PATHS.items()),
        *(pytest.param(path, id=what) for what, path in NUL_PATHS_SAFE.items()),
    ],
)
def test_nul_bytes_in_url_paths_never_get_a_5xx(published_and_draft, alice, path):
    from django.test import Client

    from releases.services import create_api_token

    client = Client(raise_request_exception=False)
    client.force_login(alice)
    token = create_api_token(user=alice)[1]
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code < 500
