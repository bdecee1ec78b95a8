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


def test_multicall(rpc, published):
    results = rpc.raw(
        xmlrpc.client.dumps(
            ([{"methodName": "list_packages", "params": []}, {"methodName": "changelog_last_serial", "params": []}],),
            "system.multicall",
        ).encode()
    )
    (result,), _ = xmlrpc.client.loads(results.content)
    assert result[0] == [["acme"]]


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
