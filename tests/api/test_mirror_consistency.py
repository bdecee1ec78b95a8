"""The JSON API and XML-RPC show exactly what the public simple index shows.

Same projects, releases and files (names, sha256, URLs, serials), with a draft present and
after it is published through the API.
"""

from __future__ import annotations

import xmlrpc.client
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import release_url

pytestmark = pytest.mark.django_db

SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def simple_view(client) -> dict:
    """{project: (serial, {version}, {(filename, sha256, path)})} from the simple index."""
    root = client.get("/simple/", headers=SIMPLE_JSON).json()
    view = {}
    for entry in root["projects"]:
        response = client.get(f"/simple/{entry['name']}/", headers=SIMPLE_JSON)
        page = response.json()
        files = {(f["filename"], f["hashes"]["sha256"], urlsplit(f["url"]).path) for f in page["files"]}
        view[entry["name"]] = (int(response["X-PyPI-Last-Serial"]), set(page["versions"]), files)
    return view


def json_api_view(client, names) -> dict:
    view = {}
    for name in names:
        response = client.get(f"/pypi/{name}/json")
        assert response.status_code == 200
        data = response.json()
        files = set()
        assert data["releases"], name
        for version, entries in data["releases"].items():
            per_version = client.get(f"/pypi/{name}/{version}/json").json()["urls"]
            assert per_version == entries
            files |= {(f["filename"], f["digests"]["sha256"], urlsplit(f["url"]).path) for f in entries}
        assert int(response["X-PyPI-Last-Serial"]) == data["last_serial"]
        view[name] = (data["last_serial"], set(data["releases"]), files)
    return view


def call(client, method, *params):
    response = client.generic("POST", "/pypi", xmlrpc.client.dumps(params, method).encode(), content_type="text/xml")
    return xmlrpc.client.loads(response.content)[0][0]


def xmlrpc_view(client) -> dict:
    view = {}
    for name, serial in call(client, "list_packages_with_serial").items():
        versions = call(client, "package_releases", name, True)
        files = set()
        for version in versions:
            files |= {
                (f["filename"], f["digests"]["sha256"], urlsplit(f["url"]).path)
                for f in call(client, "release_urls", name, version)
            }
        view[name] = (serial, set(versions), files)
    changelog = call(client, "changelog_since_serial", 0)
    # The journal names every file the index serves, and nothing else.
    journal_files = {row[3].rsplit(" ", 1)[1] for row in changelog if row[3].startswith("add ")}
    assert journal_files == {f[0] for _, _, files in view.values() for f in files}
    return view


def assert_all_agree(client):
    simple = simple_view(client)
    assert simple, "the simple index lists no project: nothing to compare"
    assert json_api_view(client, simple) == simple
    assert xmlrpc_view(client) == simple
    assert call(client, "list_packages") == sorted(simple)
    return simple


def test_all_read_apis_agree_before_and_after_publish(client, alice_api, draft, published, uploader):
    # Another project with only a draft, and a second file in acme's draft.
    assert uploader.upload("secret", "0.1", path="/legacy/draft/").status_code == 200
    from tests.support.distributions import make_sdist, make_wheel

    assert uploader.upload("acme", "2.0", wheel=make_sdist("acme", "2.0")).status_code == 200
    assert draft.files.count() == 2
    draft_files = set(draft.files.values_list("filename", flat=True))

    before = assert_all_agree(client)
    assert set(before) == {"acme"}
    assert before["acme"][1] == {"1.0"}
    assert not draft_files & {f[0] for f in before["acme"][2]}

    assert alice_api.post(release_url("2.0") + "publish/").status_code == 200
    assert uploader.upload("secret", "0.1", wheel=make_wheel("secret", "0.1", tag="py2-none-any")).status_code == 200
    assert alice_api.post(release_url("0.1", project="secret") + "publish/").status_code == 200

    after = assert_all_agree(client)
    assert set(after) == {"acme", "secret"}
    assert after["acme"][1] == {"1.0", "2.0"}
    assert draft_files <= {f[0] for f in after["acme"][2]}
    assert after["acme"][0] > before["acme"][0]
    assert len(after["secret"][2]) == 2
