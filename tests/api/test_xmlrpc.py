"""XML-RPC at POST /pypi: the calls mirrors use; drafts are invisible."""

from __future__ import annotations

import xmlrpc.client

import pytest

from releases.models import JournalEntry
from tests.api.conftest import release_url

pytestmark = pytest.mark.django_db


class Rpc:
    """Calls the endpoint through the Django test client, like xmlrpc.client.ServerProxy."""

    def __init__(self, client):
        self.client = client

    def raw(self, body: bytes, path: str = "/pypi", content_type: str = "text/xml"):
        return self.client.generic("POST", path, body, content_type=content_type)

    def __getattr__(self, name):
        def call(*params):
            response = self.raw(xmlrpc.client.dumps(params, name).encode())
            assert response.status_code == 200, response.content
            assert response["Content-Type"].startswith("text/xml")
            (result,), _ = xmlrpc.client.loads(response.content)
            return result

        return call


@pytest.fixture
def rpc(client) -> Rpc:
    return Rpc(client)


def test_list_packages_shows_public_projects_only(rpc, draft, uploader, alice):
    assert uploader.upload("secret", "0.1", path="/legacy/draft/").status_code == 200
    assert rpc.list_packages() == ["acme"]
    serials = rpc.list_packages_with_serial()
    assert serials == {"acme": draft.project.__class__.objects.get(pk=draft.project_id).last_serial}


def test_changelog_has_no_draft_activity(rpc, draft):
    changelog = rpc.changelog_since_serial(0)
    assert {row[1] for row in changelog} == {"1.0"}
    assert all(len(row) == 5 for row in changelog)
    assert [row[4] for row in changelog] == sorted(row[4] for row in changelog)
    assert rpc.changelog_last_serial() == changelog[-1][4]
    assert rpc.changelog_since_serial(rpc.changelog_last_serial()) == []


def test_publishing_writes_changelog_entries_mirrors_pick_up(rpc, alice_api, draft):
    last = rpc.changelog_last_serial()
    assert alice_api.post(release_url("2.0") + "publish/").status_code == 200
    new = rpc.changelog_since_serial(last)
    filename = draft.files.get().filename
    assert [(row[0], row[1], row[3]) for row in new] == [
        ("acme", "2.0", "new release"),
        ("acme", "2.0", f"add bdist_wheel file {filename}"),
    ]
    assert all(row[4] > last for row in new)
    assert rpc.list_packages_with_serial()["acme"] == new[-1][4] == rpc.changelog_last_serial()


def test_changelog_since_a_timestamp(rpc, draft):
    first = JournalEntry.objects.order_by("id").first()
    rows = rpc.changelog(int(first.submitted_date.timestamp()) - 1)
    assert {row[1] for row in rows} == {"1.0"}
    assert all(len(row) == 4 for row in rows)
    with_ids = rpc.changelog(0, True)
    assert len(with_ids) == len(rows)
    assert all(len(row) == 5 for row in with_ids)


def test_package_releases(rpc, alice_api, draft, uploader):
    assert uploader.upload("acme", "1.5").status_code == 200
    assert rpc.package_releases("acme") == ["1.5"]
    assert rpc.package_releases("acme", True) == ["1.5", "1.0"]
    assert rpc.package_releases("ACME", True) == ["1.5", "1.0"]
    assert rpc.package_releases("nope") == []
    alice_api.post(release_url("2.0") + "publish/")
    assert rpc.package_releases("acme", True) == ["2.0", "1.5", "1.0"]


def test_release_urls(rpc, draft, published):
    stored = published.files.get()
    (entry,) = rpc.release_urls("acme", "1.0")
    assert entry["filename"] == stored.filename
    assert entry["digests"]["sha256"] == stored.sha256_digest
    assert entry["md5_digest"] == stored.md5_digest
    assert entry["size"] == stored.size
    assert entry["url"] == f"http://testserver/packages/{stored.path}"
    assert isinstance(entry["upload_time"], xmlrpc.client.DateTime)
    # A draft's files are not there.
    assert rpc.release_urls("acme", "2.0") == []


def test_draft_only_project_is_unknown(rpc, project, uploader):
    assert uploader.upload("acme", "2.0", path="/legacy/draft/").status_code == 200
    assert rpc.list_packages() == []
    assert rpc.list_packages_with_serial() == {}
    assert rpc.changelog_since_serial(0) == []
    assert rpc.changelog_last_serial() == 0
    assert rpc.package_releases("acme", True) == []
    assert rpc.release_urls("acme", "2.0") == []


def fault_of(response) -> xmlrpc.client.Fault:
    assert response.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(response.content)
    return fault.value


def test_multicall_is_refused_one_request_is_one_call(rpc, published):
    calls = [{"methodName": "changelog", "params": [0]}] * 150
    body = xmlrpc.client.dumps((calls,), "system.multicall").encode()
    response = rpc.raw(body)
    fault = fault_of(response)
    assert fault.faultCode == -32601
    assert "send each call as a request of its own" in fault.faultString
    assert len(response.content) < len(body) / 50


def test_introspection_lists_the_calls_but_not_multicall(rpc):
    (methods,), _ = xmlrpc.client.loads(rpc.raw(xmlrpc.client.dumps((), "system.listMethods").encode()).content)
    assert {"changelog_since_serial", "list_packages_with_serial", "system.methodHelp"} <= set(methods)
    assert "system.multicall" not in methods
    body = xmlrpc.client.dumps(("changelog_since_serial",), "system.methodHelp").encode()
    (text,), _ = xmlrpc.client.loads(rpc.raw(body).content)
    assert "MAX_CHANGELOG_ROWS" in text


@pytest.mark.parametrize("cap", [1, 2])
def test_changelog_calls_answer_at_most_the_cap_and_mirrors_page_on(rpc, draft, uploader, monkeypatch, cap):
    from simpleindex import xmlrpc as endpoint

    assert uploader.upload("acme", "1.5").status_code == 200

    everything = rpc.changelog_since_serial(0)
    assert len(everything) > 2
    monkeypatch.setattr(endpoint, "MAX_CHANGELOG_ROWS", cap)
    assert len(rpc.changelog(0)) == cap
    # Following the last serial seen (what bandersnatch does) reaches the end.
    seen, serial = [], 0
    while page := rpc.changelog_since_serial(serial):
        assert len(page) <= cap
        seen += page
        serial = page[-1][4]
    assert seen == everything


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"<not xml", -32700, "Malformed request"),
        (xmlrpc.client.dumps((1,), methodresponse=True).encode(), -32600, "not a response"),
        (xmlrpc.client.dumps((), "no_such_method").encode(), -32601, "Unknown method 'no_such_method'"),
        (xmlrpc.client.dumps((1, 2), "list_packages").encode(), -32602, "call list_packages()"),
        (xmlrpc.client.dumps((), "release_urls").encode(), -32602, "call release_urls(package_name, version)"),
        (xmlrpc.client.dumps(("x",), "changelog_since_serial").encode(), -32602, "since_serial must be an integer"),
        (xmlrpc.client.dumps((1.5,), "changelog").encode(), -32602, "since must be an integer"),
        (
            b"<methodCall><methodName>changelog</methodName><params><param><value><i8>"
            b"9223372036854775807</i8></value></param></params></methodCall>",
            -32602,
            "since must be at most",
        ),
        (
            b"<methodCall><methodName>changelog_since_serial</methodName><params><param><value><i8>"
            b"99999999999999999999</i8></value></param></params></methodCall>",
            -32602,
            "since_serial must be at most",
        ),
        (xmlrpc.client.dumps((0, "yes"), "changelog").encode(), -32602, "with_ids must be a boolean"),
        (xmlrpc.client.dumps(({"a": 1},), "package_releases").encode(), -32602, "package_name must be a string"),
        (xmlrpc.client.dumps(("acme", 1.0), "release_urls").encode(), -32602, "version must be a string"),
    ],
)
def test_faults_say_what_was_wrong_without_python_exception_text(rpc, published, body, code, fragment):
    fault = fault_of(rpc.raw(body))
    assert fault.faultCode == code
    assert fragment in fault.faultString
    for leak in ("<class", "Error", "Traceback", "invalid literal", "expat", "year"):
        assert leak not in fault.faultString


def test_an_unexpected_failure_is_a_fault_without_its_text(rpc, published, monkeypatch, caplog):
    from simpleindex import xmlrpc as endpoint

    def broken(self):
        raise RuntimeError("secret internals /srv/app")

    monkeypatch.setattr(endpoint.PyPIRPC, "list_packages", broken)
    fault = fault_of(rpc.raw(xmlrpc.client.dumps((), "list_packages").encode()))
    assert fault.faultCode == -32603
    assert "secret internals" not in fault.faultString
    assert "secret internals" in caplog.text  # the log says why


def test_negative_serials_and_timestamps_mean_from_the_start(rpc, draft):
    assert rpc.changelog_since_serial(-5) == rpc.changelog_since_serial(0)
    assert rpc.changelog(-5) == rpc.changelog(0)


def test_stored_control_characters_never_reach_the_xml(rpc, published):
    from releases.models import Release

    Release.objects.filter(pk=published.pk).update(yanked=True, yanked_reason="bad\x1b[31m\x0b reason\ufffe")
    published.files.update(requires_python=">=3.8\x0c")
    response = rpc.raw(xmlrpc.client.dumps(("acme", "1.0"), "release_urls").encode())
    assert b"\x1b" not in response.content and b"\x0b" not in response.content
    ((entry,),), _ = xmlrpc.client.loads(response.content)
    assert entry["yanked_reason"] == "bad[31m reason"
    assert entry["requires_python"] == ">=3.8"


@pytest.mark.parametrize(
    "body",
    [
        b"<not xml",
        b"<?xml version='1.0'?><methodCall><methodName>list_packages</methodName><params><param>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
        xmlrpc.client.dumps((), "no_such_method").encode(),
        xmlrpc.client.dumps(("not a number",), "changelog_since_serial").encode(),
        xmlrpc.client.dumps((1, 2, 3), "list_packages").encode(),
        "<?xml version='1.0'?><methodCall><methodName>é</methodName></methodCall>".encode("latin-1"),
    ],
)
def test_malformed_calls_get_a_fault_never_a_500(rpc, body):
    response = rpc.raw(body)
    assert response.status_code == 200
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(response.content)


def test_get_is_405_and_empty_post_is_400(client):
    response = client.get("/pypi")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert client.generic("POST", "/pypi", b"", content_type="text/xml").status_code == 400


def test_oversized_body_is_413(rpc):
    response = rpc.raw(b"<" * (300 * 1024))
    assert response.status_code == 413


def test_trailing_slash_works_too(rpc, published):
    response = rpc.raw(xmlrpc.client.dumps((), "list_packages").encode(), path="/pypi/")
    assert xmlrpc.client.loads(response.content)[0] == (["acme"],)
