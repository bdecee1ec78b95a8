"""Issue 3: draft releases, end to end, with unmodified twine, pip and uv against a live server.

A CI job uploads to `/legacy/draft/`, installs the draft from its private index, replaces a
file, and an operator publishes it; nobody else sees the draft until then, and its links
die when it is rotated, expires, is discarded or is published (then they redirect).
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.harness import (
    JSON_V1,
    OWNER,
    DraftLinks,
    LiveServer,
    client_env,
    download,
    draft_links,
    html_links,
    json_links,
    project_names,
    run,
    sha256_of,
    storage_key,
    tool,
    twine_post,
    unique_name,
)
from tests.support.distributions import make_sdist, make_wheel

pytestmark = pytest.mark.e2e

REDIRECTS = (301, 308)


# --- helpers ------------------------------------------------------------------------------


def upload_draft(twine, server: LiveServer, token: str, files, *, url: str | None = None) -> DraftLinks:
    result = twine.upload(files, repository_url=url or server.legacy_draft, username="__token__", password=token)
    return draft_links(result.stdout)


def assert_invisible_to_the_public(server: LiveServer, name: str, version: str) -> None:
    root_html = server.get("/simple/")
    root_json = server.get("/simple/", headers={"Accept": JSON_V1}).json()
    assert f'href="{name}/"' not in root_html.text
    assert name not in project_names(root_json)
    for path, headers in [
        (f"/simple/{name}/", {}),
        (f"/simple/{name}/", {"Accept": JSON_V1}),
        (f"/simple/{name}/?format=json", {}),
        (f"/project/{name}/", {}),
        (f"/project/{name}/{version}/", {}),
        (f"/pypi/{name}/json", {}),
        (f"/pypi/{name}/{version}/json", {}),
    ]:
        response = server.get(path, headers=headers, allow_redirects=False)
        assert response.status_code == 404, f"GET {path} ({headers}) -> {response.status_code}"


def draft_files(server: LiveServer, links: DraftLinks, name: str):
    """The draft's files as its own index lists them (JSON), checked against the HTML."""
    page = server.get(f"{links.index}{name}/")
    data = server.get(f"{links.index}{name}/", headers={"Accept": JSON_V1})
    assert page.status_code == 200 and data.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    files = json_links(data.url, data.json())
    assert sorted(files) == sorted(html_links(page.url, page.text))
    return files


def public_url_of(draft_file_url: str, server: LiveServer) -> str:
    """Where the same object would live in the public layout: /packages/<aa>/<bb>/<rest>/<name>."""
    return f"{server.url}/packages/{storage_key(draft_file_url)}"


def rotate_token(manage, name: str, version: str) -> str:
    return manage.shell(
        "import os\n"
        "from releases.models import AuditEvent, Release\n"
        "from releases.services import Actor, rotate_draft_token\n"
        "release = Release.objects.get(project__normalized_name=os.environ['E2E_PROJECT'],"
        " version=os.environ['E2E_VERSION'])\n"
        "print(rotate_draft_token(release=release, actor=Actor(user=None, channel=AuditEvent.COMMAND)))\n",
        project=name,
        version=version,
    ).splitlines()[-1]


def rows_of(manage, name: str) -> tuple[int, int]:
    """(releases, files) of a project, counted by the server's own code."""
    out = manage.shell(
        "import os\n"
        "from releases.models import File, Release\n"
        "name = os.environ['E2E_PROJECT']\n"
        "print(Release.objects.filter(project__normalized_name=name).count(),"
        " File.objects.filter(release__project__normalized_name=name).count())\n",
        project=name,
    )
    releases, files = out.splitlines()[-1].split()
    return int(releases), int(files)


# --- the whole story ----------------------------------------------------------------------


def test_draft_upload_install_overwrite_publish_with_twine_pip_and_uv(
    builder, twine, server, installers, manage, storage, alice_token
):
    first = builder.build(unique_name("story"), "1.0", flavor="first")
    name = first.name

    # CI uploads a wheel and an sdist to the draft endpoint with unmodified twine.
    links = upload_draft(twine, server, alice_token, first.files)
    assert links.index == f"{server.url}/simple/draft/{links.token}/"
    assert links.preview == f"{server.url}/project/{name}/1.0--draft--{links.token}/"

    # Nobody else sees it.
    assert_invisible_to_the_public(server, name, "1.0")

    # Its own index serves only this project, with the right bytes.
    root = server.get(links.index, headers={"Accept": JSON_V1})
    assert root.status_code == 200
    assert project_names(root.json()) == [name]
    assert "no-store" in root.headers["Cache-Control"]
    files = draft_files(server, links, name)
    assert sorted(f.filename for f in files) == sorted(p.name for p in first.files)
    assert files
    for f in files:
        assert sha256_of(download(f.url)) == f.sha256

    # The preview shows the exact install commands.
    preview = server.get(links.preview)
    assert preview.status_code == 200
    assert "no-store" in preview.headers["Cache-Control"]
    assert f"pip install --extra-index-url {links.index} {name}==1.0" in preview.text
    assert f"uv pip install --extra-index-url {links.index} {name}==1.0" in preview.text

    # pip and uv install the draft from its index next to the public one.
    draft_indexes = {"index_url": server.simple, "extra_index_url": links.index}
    assert installers.both(name, "1.0", **draft_indexes) == {"pip": ("1.0", "first"), "uv": ("1.0", "first")}

    # A fixed wheel, same version, same filename, replaces the draft's file in place.
    second = builder.build(name, "1.0", flavor="second")
    assert second.wheel.name == first.wheel.name
    (old_wheel,) = [f for f in files if f.filename == first.wheel.name]
    result = twine.upload(
        [second.wheel], repository_url=server.legacy_draft, username="__token__", password=alice_token
    )
    assert f"Replaced {second.wheel.name}" in result.stdout
    assert draft_links(result.stdout) == links
    files = draft_files(server, links, name)
    (new_wheel,) = [f for f in files if f.filename == second.wheel.name]
    assert new_wheel.sha256 == sha256_of(second.wheel.read_bytes())
    assert sha256_of(download(new_wheel.url)) == new_wheel.sha256
    assert not storage.exists(storage_key(old_wheel.url))
    assert installers.both(name, "1.0", **draft_indexes) == {"pip": ("1.0", "second"), "uv": ("1.0", "second")}
    assert_invisible_to_the_public(server, name, "1.0")

    # An operator publishes it.
    assert f"Published {name} 1.0" in manage("publish_release", name, "1.0").stdout

    # Now it is public, with exactly the draft's files, and installs without the draft index.
    page = server.get(f"/simple/{name}/")
    assert page.status_code == 200
    public = html_links(page.url, page.text)
    assert sorted((f.filename, f.sha256) for f in public) == sorted((f.filename, f.sha256) for f in files)
    for f in public:
        assert sha256_of(download(f.url)) == f.sha256
    assert name in project_names(server.get("/simple/", headers={"Accept": JSON_V1}).json())
    assert server.get(f"/project/{name}/").status_code == 200
    assert server.get(f"/project/{name}/1.0/").status_code == 200
    pypi_json = server.get(f"/pypi/{name}/json")
    assert pypi_json.status_code == 200
    assert pypi_json.json()["info"]["version"] == "1.0"
    assert sorted(u["digests"]["sha256"] for u in pypi_json.json()["urls"]) == sorted(f.sha256 for f in files)
    assert installers.both(name, "1.0", index_url=server.simple) == {"pip": ("1.0", "second"), "uv": ("1.0", "second")}

    # The old draft links redirect to the public pages.
    for old, public_path in [
        (links.index, "/simple/"),
        (f"{links.index}{name}/", f"/simple/{name}/"),
        (links.preview, f"/project/{name}/1.0/"),
        (new_wheel.url, f"/packages/{storage_key(new_wheel.url)}"),
    ]:
        response = server.get(old, allow_redirects=False)
        assert response.status_code in REDIRECTS, f"GET {old} -> {response.status_code}"
        assert response.headers["Location"] in (public_path, server.url + public_path)
        assert server.get(old).status_code == 200

    # Publishing twice changes nothing and says so.
    again = manage("publish_release", name, "1.0", check=False)
    assert again.returncode != 0
    assert "already published" in again.stdout


# --- how a release becomes a draft ----------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_is_draft_header_on_the_legacy_endpoint_makes_a_draft(builder, server, alice_token, value):
    dist = builder.build(unique_name("header"), "1.0")

    response = twine_post(
        dist.wheel,
        repository_url=server.legacy,
        username="__token__",
        password=alice_token,
        headers={"Is-Draft": value},
    )

    assert response.status_code == 200, response.text
    links = draft_links(response.text)
    assert_invisible_to_the_public(server, dist.name, "1.0")
    assert [f.filename for f in draft_files(server, links, dist.name)] == [dist.wheel.name]


@pytest.mark.parametrize("value", ["false", "0"])
def test_is_draft_false_publishes_at_once(builder, server, alice_token, value):
    dist = builder.build(unique_name("notdraft"), "1.0")

    response = twine_post(
        dist.wheel,
        repository_url=server.legacy,
        username="__token__",
        password=alice_token,
        headers={"Is-Draft": value},
    )

    assert response.status_code == 200, response.text
    assert "Draft index" not in response.text
    assert server.get(f"/simple/{dist.name}/").status_code == 200


def test_invalid_is_draft_header_is_refused_and_stores_nothing(builder, server, alice_token, manage):
    dist = builder.build(unique_name("badheader"), "1.0")

    response = twine_post(
        dist.wheel,
        repository_url=server.legacy,
        username="__token__",
        password=alice_token,
        headers={"Is-Draft": "yes"},
    )

    assert response.status_code == 400
    assert "Is-Draft" in response.reason
    assert server.get(f"/simple/{dist.name}/").status_code == 404
    assert rows_of(manage, dist.name) == (0, 0)


def test_project_with_auto_publish_off_makes_new_versions_drafts(builder, twine, server, manage, alice_token):
    released = builder.build(unique_name("autopublish"), "1.0")
    name = released.name
    twine.upload(released.files, repository_url=server.legacy, username="__token__", password=alice_token)
    manage.shell(
        "import os\n"
        "from django.contrib.auth.models import User\n"
        "from releases.models import AuditEvent, Project\n"
        "from releases.services import Actor, set_auto_publish\n"
        "owner = User.objects.get(username=os.environ['E2E_OWNER'])\n"
        "project = Project.objects.get(normalized_name=os.environ['E2E_PROJECT'])\n"
        "set_auto_publish(project=project, enabled=False, actor=Actor(user=owner, channel=AuditEvent.COMMAND))\n",
        owner=OWNER,
        project=name,
    )
    upcoming = builder.build(name, "2.0")

    # Plain `twine upload` to /legacy/, no header: the project's setting makes it a draft.
    links = upload_draft(twine, server, alice_token, upcoming.files, url=server.legacy)

    assert sorted(f.filename for f in draft_files(server, links, name)) == sorted(p.name for p in upcoming.files)
    data = server.get(f"/simple/{name}/", headers={"Accept": JSON_V1}).json()
    assert data["versions"] == ["1.0"]
    assert sorted(f["filename"] for f in data["files"]) == sorted(p.name for p in released.files)
    assert server.get(f"/project/{name}/2.0/").status_code == 404
    assert server.get(f"/project/{name}/1.0/").status_code == 200


# --- a draft's links are its only way in --------------------------------------------------


def test_draft_files_are_not_reachable_through_public_urls(builder, twine, server, alice_token):
    dist = builder.build(unique_name("hidden"), "1.0")
    links = upload_draft(twine, server, alice_token, dist.files)
    files = draft_files(server, links, dist.name)
    wrong_token = secrets.token_hex(26)

    assert len(files) == len(dist.files) > 0
    for f in files:
        assert sha256_of(download(f.url)) == f.sha256
        public = public_url_of(f.url, server)
        assert server.get(public, allow_redirects=False).status_code == 404, public
        assert server.get(public + ".metadata", allow_redirects=False).status_code == 404
        other = f.url.replace(links.token, wrong_token)
        assert server.get(other, allow_redirects=False).status_code == 404, other
    (wheel,) = [f for f in files if f.filename.endswith(".whl")]
    assert sha256_of(download(wheel.url + ".metadata")) == wheel.core_metadata


def test_wrong_or_rotated_token_answers_404(builder, twine, server, manage, alice_token):
    dist = builder.build(unique_name("rotate"), "1.0")
    links = upload_draft(twine, server, alice_token, dist.files)
    (old_file,) = [f for f in draft_files(server, links, dist.name) if f.filename.endswith(".whl")]
    wrong = links.index.replace(links.token, secrets.token_hex(26))
    assert server.get(wrong).status_code == 404
    assert server.get(f"{wrong}{dist.name}/").status_code == 404

    new_token = rotate_token(manage, dist.name, "1.0")

    assert new_token != links.token
    for old in [links.index, f"{links.index}{dist.name}/", links.preview, old_file.url, old_file.url + ".metadata"]:
        assert server.get(old, allow_redirects=False).status_code == 404, old
    rotated = DraftLinks(
        index=links.index.replace(links.token, new_token), preview=links.preview.replace(links.token, new_token)
    )
    assert server.get(rotated.preview).status_code == 200
    (new_file,) = [f for f in draft_files(server, rotated, dist.name) if f.filename.endswith(".whl")]
    assert sha256_of(download(new_file.url)) == old_file.sha256
    assert_invisible_to_the_public(server, dist.name, "1.0")


# --- the end of a draft -------------------------------------------------------------------


def test_expired_draft_stops_resolving_and_is_purged_with_its_files(
    builder, twine, server, manage, storage, alice_token
):
    dist = builder.build(unique_name("expired"), "1.0")
    links = upload_draft(twine, server, alice_token, dist.files)
    files = draft_files(server, links, dist.name)
    keys = [storage_key(f.url) for f in files]
    assert len(keys) == len(dist.files) > 0
    assert all(storage.exists(key) for key in keys)

    manage.shell(
        "import os\n"
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from releases.models import Release\n"
        "Release.objects.filter(project__normalized_name=os.environ['E2E_PROJECT']).update(\n"
        "    created=timezone.now() - timedelta(days=40))\n",
        project=dist.name,
    )

    for old in [links.index, f"{links.index}{dist.name}/", links.preview, *(f.url for f in files)]:
        assert server.get(old, allow_redirects=False).status_code == 404, old
    assert_invisible_to_the_public(server, dist.name, "1.0")

    purged = manage("purge_expired_drafts").stdout
    assert f"Purged {dist.name} 1.0" in purged
    assert rows_of(manage, dist.name) == (0, 0)
    assert not any(storage.exists(key) for key in keys)


def test_second_draft_version_is_refused_naming_the_existing_draft(builder, twine, server, alice_token):
    current = builder.build(unique_name("maxdrafts"), "1.0")
    upload_draft(twine, server, alice_token, current.files)
    another = builder.build(current.name, "2.0")

    response = twine_post(another.wheel, repository_url=server.legacy_draft, username="__token__", password=alice_token)
    cli = twine.upload(
        [another.wheel], repository_url=server.legacy_draft, username="__token__", password=alice_token, check=False
    )

    assert response.status_code == 400
    assert "1.0" in response.reason and "1.0" in response.text
    assert cli.returncode != 0
    assert "400" in cli.stdout and "1.0" in cli.stdout


def test_discarded_draft_loses_its_links_rows_and_stored_files(builder, twine, server, manage, storage, alice_token):
    dist = builder.build(unique_name("discard"), "1.0")
    links = upload_draft(twine, server, alice_token, dist.files)
    files = draft_files(server, links, dist.name)
    keys = [storage_key(f.url) for f in files]
    assert len(keys) == len(dist.files) > 0
    assert all(storage.exists(key) for key in keys)

    assert f"Discarded the draft {dist.name} 1.0" in manage("discard_draft", dist.name, "1.0").stdout

    assert not any(storage.exists(key) for key in keys)
    for old in [links.index, links.preview, *(f.url for f in files)]:
        assert server.get(old, allow_redirects=False).status_code == 404, old
    assert rows_of(manage, dist.name) == (0, 0)
    assert_invisible_to_the_public(server, dist.name, "1.0")

    # The filenames were never public: the same files can start a new draft.
    again = upload_draft(twine, server, alice_token, dist.files)
    assert again.token != links.token
    assert sorted(f.filename for f in draft_files(server, again, dist.name)) == sorted(p.name for p in dist.files)


def test_server_log_never_shows_a_draft_token_or_an_api_token(builder, twine, server, alice_token):
    dist = builder.build(unique_name("logs"), "1.0")
    links = upload_draft(twine, server, alice_token, dist.files)
    for f in draft_files(server, links, dist.name):
        download(f.url)
    assert server.get(links.preview).status_code == 200
    assert server.get(f"{links.index}not-this-project/").status_code == 404
    twine.upload(
        [dist.wheel], repository_url=server.legacy_draft, username="__token__", password=alice_token + "x", check=False
    )

    log = server.log_path.read_text(errors="replace")

    assert f"/{dist.name}/" in log, "the draft's requests are in the access log"
    assert links.token not in log
    assert alice_token[12:] not in log, "only a token's short public prefix may ever be logged"


# --- other clients and many jobs ----------------------------------------------------------


def current_draft_links(manage, server: LiveServer, name: str, version: str) -> DraftLinks:
    """A draft's links as a maintainer finds them when the uploader did not print them."""
    token = manage.shell(
        "import os\n"
        "from releases.models import Release\n"
        "from releases.services import draft_token\n"
        "print(draft_token(Release.objects.get(project__normalized_name=os.environ['E2E_PROJECT'],"
        " version=os.environ['E2E_VERSION'])))\n",
        project=name,
        version=version,
    ).splitlines()[-1]
    return DraftLinks(
        index=f"{server.url}/simple/draft/{token}/", preview=f"{server.url}/project/{name}/{version}--draft--{token}/"
    )


def test_uv_publish_to_the_draft_endpoint_makes_a_draft(builder, server, installers, manage, alice_token):
    dist = builder.build(unique_name("uvdraft"), "1.0")

    run(
        [tool("uv"), "publish", "--publish-url", server.legacy_draft, "--token", alice_token, *map(str, dist.files)],
        env=client_env(),
    )

    assert_invisible_to_the_public(server, dist.name, "1.0")
    links = current_draft_links(manage, server, dist.name, "1.0")
    assert sorted(f.filename for f in draft_files(server, links, dist.name)) == sorted(p.name for p in dist.files)
    assert installers.uv(dist.name, "1.0", index_url=server.simple, extra_index_url=links.index) == ("1.0", "original")


def test_concurrent_twine_uploads_of_one_new_version_all_land_in_one_draft(
    builder, twine, server, installers, manage, alice_token, tmp_path
):
    """A CI matrix: one job per wheel, all at once, into a project nobody created yet."""
    name = unique_name("matrix")
    tags = [
        "py3-none-any",
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp312-cp312-win_amd64",
        "cp313-cp313-macosx_11_0_arm64",
    ]
    paths = []
    for tag in tags:
        filename, data = make_wheel(name, "1.0", tag=tag, module_source=f'__version__ = "1.0"\nFLAVOR = "{tag}"\n')
        paths.append(tmp_path / filename)
        paths[-1].write_bytes(data)
    sdist_name, sdist_data = make_sdist(name, "1.0")
    paths.append(tmp_path / sdist_name)
    paths[-1].write_bytes(sdist_data)

    def upload(path):
        return twine.upload(
            [path], repository_url=server.legacy_draft, username="__token__", password=alice_token, check=False
        )

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        results = list(pool.map(upload, paths))

    for path, result in zip(paths, results, strict=True):
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}"
    tokens = {draft_links(result.stdout).token for result in results}
    assert len(tokens) == 1, "every job must report the same draft"
    links = draft_links(results[0].stdout)
    files = draft_files(server, links, name)
    assert sorted(f.filename for f in files) == sorted(p.name for p in paths)
    for f in files:
        assert sha256_of(download(f.url)) == f.sha256
    assert rows_of(manage, name) == (1, len(paths))
    assert_invisible_to_the_public(server, name, "1.0")
    installed = installers.pip(name, "1.0", index_url=server.simple, extra_index_url=links.index)
    assert installed.version == "1.0" and installed.flavor in tags


def test_publish_makes_conditional_requests_to_the_simple_index_fresh(builder, twine, server, manage, alice_token):
    released = builder.build(unique_name("fresh"), "1.0")
    name = released.name
    twine.upload(released.files, repository_url=server.legacy, username="__token__", password=alice_token)
    pages = {path: server.get(path, headers={"Accept": JSON_V1}) for path in ["/simple/", f"/simple/{name}/"]}
    for response in pages.values():
        assert response.status_code == 200 and response.headers.get("ETag")

    upcoming = builder.build(name, "2.0")
    upload_draft(twine, server, alice_token, upcoming.files)

    for path, before in pages.items():
        again = server.get(path, headers={"Accept": JSON_V1, "If-None-Match": before.headers["ETag"]})
        assert again.status_code in (200, 304)
        if again.status_code == 200 and path != "/simple/":
            assert again.json()["versions"] == ["1.0"]

    manage("publish_release", name, "2.0")

    after = server.get(
        f"/simple/{name}/", headers={"Accept": JSON_V1, "If-None-Match": pages[f"/simple/{name}/"].headers["ETag"]}
    )
    assert after.status_code == 200
    assert after.json()["versions"] == ["1.0", "2.0"]
    root = server.get("/simple/", headers={"Accept": JSON_V1, "If-None-Match": pages["/simple/"].headers["ETag"]})
    assert root.status_code == 200
    assert name in project_names(root.json())
