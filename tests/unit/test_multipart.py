"""The upload's multipart reader: the same fields and file as Django's parser on well-formed
bodies however the body is cut into reads, and a MultipartError for each malformed piece."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releases.uploads import multipart
from releases.uploads.multipart import MultipartError, boundary_of, parse_form

BOUNDARY = b"058f7041a01a4eb2ae7d6ad2d68266ff"


class Sink:
    def __init__(self, field: str, filename: str):
        self.field, self.filename = field, filename
        self.data = bytearray()
        self.finished = False

    def write(self, data: bytes) -> None:
        self.data += data

    def finish(self) -> None:
        self.finished = True


def body_of(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]] = (), boundary: bytes = BOUNDARY):
    out = b""
    for name, value in fields:
        out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        out += value.encode() + b"\r\n"
    for name, filename, data in files:
        out += b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"; '
        out += b'filename="' + filename.encode() + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        out += data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def parse(body: bytes, *, cut: int | None = None, boundary: bytes = BOUNDARY, max_parts: int = 100, max_field=10**6):
    """Parse `body`, each read returning at most `cut` bytes; (fields, sinks)."""
    stream = io.BytesIO(body)
    sinks: list[Sink] = []

    def read(n: int) -> bytes:
        return stream.read(min(n, cut) if cut else n)

    def new_file(field: str, filename: str) -> Sink:
        sinks.append(Sink(field, filename))
        return sinks[-1]

    fields = parse_form(read, len(body), boundary, new_file=new_file, max_field_bytes=max_field, max_parts=max_parts)
    return fields, sinks


class Collect(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.data = bytearray()

    def receive_data_chunk(self, raw_data, start):
        self.data += raw_data

    def file_complete(self, file_size):
        self.files = [*getattr(self, "files", []), (self.field_name, self.file_name, bytes(self.data))]


def parse_with_django(body: bytes):
    handler = Collect()
    meta = {"CONTENT_TYPE": "multipart/form-data; boundary=" + BOUNDARY.decode(), "CONTENT_LENGTH": str(len(body))}
    post, _ = MultiPartParser(meta, io.BytesIO(body), [handler], "utf-8").parse()
    return {k: post.getlist(k) for k in post}, getattr(handler, "files", [])


def test_a_twine_upload_is_read_in_one_piece_and_in_tiny_pieces():
    data = b"PK\x03\x04" + bytes(range(256)) * 4 + b"\r\n--" + BOUNDARY[:10]  # a near-delimiter inside
    body = body_of(
        [("name", "acme"), (":action", "file_upload"), ("classifiers", "A"), ("classifiers", "B")],
        [("content", "acme-1.0-py3-none-any.whl", data)],
    )
    for cut in (None, 1, 2, 3, 7, 37, len(BOUNDARY) + 3):
        fields, sinks = parse(body, cut=cut)
        assert fields.getlist("classifiers") == ["A", "B"]
        assert fields.get("name") == "acme" and fields.get(":action") == "file_upload"
        assert [(s.field, s.filename, bytes(s.data), s.finished) for s in sinks] == [
            ("content", "acme-1.0-py3-none-any.whl", data, True)
        ]


def test_reads_past_the_declared_length_never_happen():
    body = body_of([("name", "acme")])
    stream = io.BytesIO(body + b"the next request on this connection")
    asked = []

    def read(n):
        asked.append(n)
        return stream.read(n)

    fields = parse_form(read, len(body), BOUNDARY, new_file=lambda *a: None, max_field_bytes=100, max_parts=10)
    assert fields.get("name") == "acme"
    assert sum(asked) <= len(body)


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(st.tuples(st.from_regex(r"[a-z_:]{1,12}", fullmatch=True), text), max_size=8),
    data=st.binary(max_size=600),
    cut=st.one_of(st.none(), st.integers(1, 64)),
    preamble=st.sampled_from([b"", b"a preamble\r\n"]),
    epilogue=st.sampled_from([b"", b"an epilogue"]),
)
def test_well_formed_bodies_read_as_djangos_parser_reads_them(fields, data, cut, preamble, epilogue):
    body = preamble + body_of(fields, [("content", "x-1.0.tar.gz", data)]) + epilogue
    ours, sinks = parse(body, cut=cut)
    theirs, their_files = parse_with_django(body)
    assert {k: ours.getlist(k) for k in ours} == theirs
    assert [(s.field, s.filename, bytes(s.data)) for s in sinks] == their_files


def test_transport_padding_and_quoted_or_extended_names():
    body = (
        b"--" + BOUNDARY + b" \t\r\n"
        b"content-disposition: FORM-DATA; name=summary\r\n\r\nhi\r\n"
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="content"; filename="a\\"b"; filename*=UTF-8\'\'caf%C3%A9.whl\r\n\r\n'
        b"x\r\n--" + BOUNDARY + b"--"
    )
    fields, sinks = parse(body)
    assert fields.get("summary") == "hi"
    assert sinks[0].filename == "café.whl"


def test_backslashes_other_than_escapes_stay_in_a_filename():
    body = body_of([], [("content", "dir\\acme.whl", b"x")])
    assert parse(body)[1][0].filename == "dir\\acme.whl"


def test_file_parts_the_caller_skips_are_read_past():
    body = body_of([("name", "acme")], [("gpg_signature", "x.asc", b"sig" * 100), ("content", "x.whl", b"data")])
    sinks = []

    def new_file(field, filename):
        if field != "content":
            return None
        sinks.append(Sink(field, filename))
        return sinks[-1]

    fields = parse_form(
        io.BytesIO(body).read, len(body), BOUNDARY, new_file=new_file, max_field_bytes=100, max_parts=10
    )
    assert fields.get("name") == "acme"
    assert [(s.filename, bytes(s.data), s.finished) for s in sinks] == [("x.whl", b"data", True)]


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; charset=utf-8; BOUNDARY="a b\\"c"', b'a b"c'),
        ("multipart/form-data;boundary=abc;charset=utf-8", b"abc"),
    ],
)
def test_boundary_of(content_type, expected):
    assert boundary_of(content_type) == expected


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "b" * 201,
        "multipart/form-data; boundary=\x01x",
        'multipart/form-data; boundary="abc "',
    ],
)
def test_bad_boundaries(content_type):
    with pytest.raises(MultipartError):
        boundary_of(content_type)


GOOD = body_of([("name", "acme")], [("content", "x.whl", b"data")])
MALFORMED = {
    "boundary not in the body": b"just text",
    "empty body": b"",
    "no closing delimiter": GOOD[: -len(b"--" + BOUNDARY + b"--\r\n")],
    "truncated in the file": GOOD[: GOOD.index(b"\r\n\r\ndata") + 6],
    "truncated in the headers": GOOD[: GOOD.index(b"Content-Disposition") + 10],
    "truncated after a delimiter": b"--" + BOUNDARY,
    "part without headers": b"--" + BOUNDARY + b"\r\n\r\nvalue\r\n--" + BOUNDARY + b"--\r\n",
    "junk after a delimiter": b"--" + BOUNDARY + b"junk\r\n",
    "no Content-Disposition": b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nv\r\n--" + BOUNDARY + b"--",
    "not form-data": GOOD.replace(b"form-data;", b"attachment;", 1),
    "no name": GOOD.replace(b'name="name"', b'filename2="x"', 1),
    "bad parameter": GOOD.replace(b'name="name"', b"name", 1),
    "unterminated quote": GOOD.replace(b'name="name"', b'name="name', 1),
    "header without a colon": GOOD.replace(b"Content-Type: application/octet-stream", b"Content-Type", 1),
    "folded header": GOOD.replace(b"Content-Type:", b" Content-Type:", 1),
    "two dispositions": GOOD.replace(
        b"Content-Type: application/octet-stream", b'Content-Disposition: form-data; name="a"', 1
    ),
    "base64 file": GOOD.replace(b"Content-Type: application/octet-stream", b"Content-Transfer-Encoding: base64", 1),
    "field not UTF-8": GOOD.replace(b"acme", b"\xff\xfe", 1),
    "headers not UTF-8": GOOD.replace(b'name="name"', b'name="\xff"', 1),
    "extended name in an unknown charset": GOOD.replace(b'name="name"', b"name*=koi8-r''abc", 1),
    "headers too long": GOOD.replace(b"Content-Type: application/octet-stream", b"X-Pad: " + b"a" * 20_000, 1),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("cut", [None, 5])
def test_malformed_bodies_raise_multipart_error(case, cut):
    with pytest.raises(MultipartError) as raised:
        parse(MALFORMED[case], cut=cut)
    assert str(raised.value)


def test_truncation_says_truncated():
    for case in ("no closing delimiter", "truncated in the file", "truncated in the headers"):
        with pytest.raises(MultipartError, match="truncated"):
            parse(MALFORMED[case])


def test_limits_on_parts_and_field_bytes():
    many = body_of([(f"f{i}", "x") for i in range(11)])
    with pytest.raises(MultipartError, match="more than 10 parts"):
        parse(many, max_parts=10)
    parse(many, max_parts=11)
    big = body_of([("description", "d" * 1000), ("summary", "s" * 100)])
    with pytest.raises(MultipartError, match="larger than allowed"):
        parse(big, max_field=1099)
    assert parse(big, max_field=1100)[0].get("summary") == "s" * 100


def test_a_field_past_the_limit_is_refused_before_it_is_all_read(monkeypatch):
    monkeypatch.setattr(multipart, "CHUNK_BYTES", 1024)
    body = body_of([("description", "d" * 100_000)])
    stream = io.BytesIO(body)
    with pytest.raises(MultipartError):
        parse_form(stream.read, len(body), BOUNDARY, new_file=lambda *a: None, max_field_bytes=5000, max_parts=10)
    assert stream.tell() < 10_000
