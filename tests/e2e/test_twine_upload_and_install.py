"""Issue 2: real twine and uv upload to the legacy API; real pip and uv install from the index.

Packages are built by `uv build`, uploaded to a gunicorn server, and installed into fresh
virtual environments; every hash the index advertises matches the bytes it serves.
"""

from __future__ import annotations

import pytest
import requests

from tests.e2e.harness import (
    JSON_V1,
    OUTSIDER,
    OWNER,
    PASSWORD,
    Dist,
    client_env,
    download,
    html_links,
    json_links,
    project_names,
    run,
    sha256_of,
    tool,
    twine_post,
    unique_name,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token_upload(builder, twine, server, alice_token) -> Dist:
    """A wheel and an sdist uploaded by twine with `__token__` and alice's API token."""
    dist = builder.build(unique_name("token"), "1.0")
    twine.upload(dist.files, repository_url=server.legacy, username="__token__", password=alice_token)
    return dist


def test_twine_upload_with_password_then_pip_and_uv_install_it(builder, twine, server, installers, accounts):
    dist = builder.build(unique_name("password"), "1.0")

    result = twine.upload(dist.files, repository_url=server.legacy, username=OWNER, password=PASSWORD)

    assert "200 OK" in result.stdout
    installed = installers.both(dist.name, "1.0", index_url=server.simple)
    assert installed == {"pip": ("1.0", "original"), "uv": ("1.0", "original")}


def test_twine_upload_with_api_token_then_pip_and_uv_install_it(token_upload, server, installers):
    installed = installers.both(token_upload.name, "1.0", index_url=server.simple)

    assert installed == {"pip": ("1.0", "original"), "uv": ("1.0", "original")}


def test_uploaded_project_is_listed_in_the_simple_root(token_upload, server):
    html = server.get("/simple/")
    data = server.get("/simple/", headers={"Accept": JSON_V1}).json()

    assert f'href="{token_upload.name}/"' in html.text
    assert token_upload.name in project_names(data)


def test_every_sha256_on_the_simple_page_matches_the_downloaded_bytes(token_upload, server):
    page = server.get(f"/simple/{token_upload.name}/")
    assert page.status_code == 200
    links = html_links(page.url, page.text)

    assert sorted(link.filename for link in links) == sorted(f.name for f in token_upload.files)
    for link in links:
        body = download(link.url)
        assert sha256_of(body) == link.sha256, link.filename
        assert body == (token_upload.wheel if link.filename.endswith(".whl") else token_upload.sdist).read_bytes()


def test_files_are_served_without_content_encoding_so_any_client_gets_the_hashed_bytes(token_upload, server):
    """Browsers, requests and mirrors (aiohttp) decode a Content-Encoding; an sdist stored in S3
    as `.tar.gz` once came back with `Content-Encoding: gzip`, so they got other bytes."""
    page = server.get(f"/simple/{token_upload.name}/")
    links = html_links(page.url, page.text)
    assert sorted(link.filename for link in links) == sorted(f.name for f in token_upload.files)

    for link in links:
        response = requests.get(link.url, timeout=60)  # decodes Content-Encoding, as browsers and mirrors do
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers, (link.filename, response.headers)
        assert sha256_of(response.content) == link.sha256, link.filename


def test_wheel_metadata_file_matches_its_advertised_core_metadata_hash(token_upload, server):
    page = server.get(f"/simple/{token_upload.name}/")
    (wheel,) = [link for link in html_links(page.url, page.text) if link.filename.endswith(".whl")]

    metadata = download(wheel.url + ".metadata")

    assert wheel.core_metadata == sha256_of(metadata)
    assert f"Name: {token_upload.name}" in metadata.decode()
    assert "Version: 1.0" in metadata.decode()


@pytest.mark.parametrize("accept", [JSON_V1, "application/vnd.pypi.simple.latest+json"])
def test_pep691_json_lists_the_same_files_and_hashes_as_the_html(token_upload, server, accept):
    page = server.get(f"/simple/{token_upload.name}/")
    response = server.get(f"/simple/{token_upload.name}/", headers={"Accept": accept})

    assert response.headers["Content-Type"].startswith(JSON_V1)
    data = response.json()
    assert data["name"] == token_upload.name
    assert data["versions"] == ["1.0"]
    from_json = json_links(response.url, data)
    assert sorted(from_json) == sorted(html_links(page.url, page.text))
    assert len(from_json) == len(token_upload.files) > 0
    for link in from_json:
        assert sha256_of(download(link.url)) == link.sha256
        if link.filename.endswith(".whl"):
            assert link.core_metadata == sha256_of(download(link.url + ".metadata"))
        else:
            assert link.core_metadata is None


def test_uv_publish_with_token_then_pip_and_uv_install_it(builder, server, installers, alice_token):
    dist = builder.build(unique_name("uvpublish"), "2.0")

    run(
        [tool("uv"), "publish", "--publish-url", server.legacy, "--token", alice_token, *map(str, dist.files)],
        env=client_env(),
    )

    page = server.get(f"/simple/{dist.name}/")
    assert sorted(link.filename for link in html_links(page.url, page.text)) == sorted(f.name for f in dist.files)
    installed = installers.both(dist.name, "2.0", index_url=server.simple)
    assert installed == {"pip": ("2.0", "original"), "uv": ("2.0", "original")}


def test_reuploading_identical_bytes_succeeds(token_upload, twine, server, alice_token):
    result = twine.upload(token_upload.files, repository_url=server.legacy, username="__token__", password=alice_token)

    assert result.stdout.count("already exists with identical contents") == 2


def test_changed_file_with_a_published_name_is_refused_as_already_existing(
    token_upload, builder, twine, server, alice_token
):
    changed = builder.build(token_upload.name, "1.0", flavor="changed")
    assert changed.wheel.name == token_upload.wheel.name
    assert changed.wheel.read_bytes() != token_upload.wheel.read_bytes()

    refused = twine.upload(
        [changed.wheel], repository_url=server.legacy, username="__token__", password=alice_token, check=False
    )

    assert refused.returncode != 0
    assert "400 File already exists" in refused.stdout
    page = server.get(f"/simple/{token_upload.name}/")
    (wheel,) = [link for link in html_links(page.url, page.text) if link.filename.endswith(".whl")]
    assert wheel.sha256 == sha256_of(token_upload.wheel.read_bytes())


def test_changed_file_with_a_published_name_is_what_twine_skip_existing_skips(
    token_upload, builder, server, alice_token
):
    """twine 7 refuses `--skip-existing` for any index but PyPI and TestPyPI before it
    uploads anything, so ask twine's own decision function about the server's real answer."""
    from twine.commands.upload import skip_upload

    changed = builder.build(token_upload.name, "1.0", flavor="changed")

    response = twine_post(changed.wheel, repository_url=server.legacy, username="__token__", password=alice_token)

    assert response.status_code == 400
    assert response.reason.startswith("File already exists")
    assert skip_upload(response, skip_existing=True, package=None)


@pytest.mark.parametrize(
    ("username", "password"),
    [(OWNER, "not the password"), ("nobody", PASSWORD), ("__token__", "pypd-not-a-real-token")],
    ids=["wrong-password", "unknown-user", "unknown-token"],
)
def test_bad_credentials_fail_with_401(builder, twine, server, accounts, username, password):
    dist = builder.build(unique_name("badcreds"), "1.0")

    result = twine.upload([dist.wheel], repository_url=server.legacy, username=username, password=password, check=False)

    assert result.returncode != 0
    assert "401" in result.stdout
    assert server.get(f"/simple/{dist.name}/").status_code == 404


def test_valid_credentials_without_a_role_fail_with_403(token_upload, builder, twine, server, charlie_token):
    intruder = builder.build(token_upload.name, "9.0")

    by_password = twine.upload(
        [intruder.wheel], repository_url=server.legacy, username=OUTSIDER, password=PASSWORD, check=False
    )
    by_token = twine.upload(
        [intruder.wheel], repository_url=server.legacy, username="__token__", password=charlie_token, check=False
    )

    for result in (by_password, by_token):
        assert result.returncode != 0
        assert "403" in result.stdout
    assert server.get(f"/project/{token_upload.name}/9.0/").status_code == 404


def test_token_scoped_to_another_project_fails_with_403(token_upload, builder, twine, server, manage):
    other = builder.build(unique_name("scoped"), "1.0")
    twine_args = {"repository_url": server.legacy, "username": "__token__"}
    scoped = manage("create_api_token", OWNER, "--project", token_upload.name).stdout.strip().splitlines()[-1]

    result = twine.upload([other.wheel], password=scoped, check=False, **twine_args)

    assert result.returncode != 0
    assert "403" in result.stdout
