"""Hardening, round two: what an attacker found with an ordinary account (issue #14, items 3, 5, 9).

On the real server (gunicorn, DEBUG=0):
- XML-RPC amplification: one small anonymous `system.multicall` of 150 x changelog(0)
  must not answer 150 changelogs; faults never carry Python exception text;
- control characters: refused at upload with a 400 naming the field, and what is already
  stored (written before the check existed) never breaks a feed, XML-RPC or a page;
- staff who may only *view* releases do not see a draft's capability URLs in admin;
- a 406 carries `Vary: Accept`.
"""

from __future__ import annotations

import re
import xmlrpc.client
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from tests.e2e.harness import OWNER, PASSWORD, draft_links, unique_name
from tests.support.distributions import make_wheel, upload_fields

# Characters XML 1.0 cannot carry (Django's feed generator refuses them with a 500).
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EXCEPTION_TEXT = re.compile(r"<class |Traceback|Error\b|Exception|invalid literal|expat|psycopg|out of range")


def upload(server, name: str, version: str, *, draft: bool = False, **metadata: str) -> requests.Response:
    filename, data = make_wheel(name, version)
    return requests.post(
        server.legacy_draft if draft else server.legacy,
        data=upload_fields(name, version, filename, data, **metadata),
        files={"content": (filename, data, "application/octet-stream")},
        auth=(OWNER, PASSWORD),
        timeout=30,
    )


def rpc(server, method: str, *params) -> requests.Response:
    return post_rpc(server, xmlrpc.client.dumps(params, method).encode())


def post_rpc(server, body: bytes) -> requests.Response:
    return requests.post(f"{server.url}/pypi", data=body, headers={"Content-Type": "text/xml"}, timeout=60)


def call_with_i8(method: str, number: int) -> bytes:
    """A call with one 64-bit integer (xmlrpc.client refuses to send past 32 bits)."""
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params><param>"
        f"<value><i8>{number}</i8></value></param></params></methodCall>"
    ).encode()


# --- the worker's memory --------------------------------------------------------------------


def worker_pids(server) -> list[int]:
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children")
    if not children.exists():
        return []
    return [int(pid) for pid in children.read_text().split()]


def peak_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM), in KiB; 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


# --- 3. XML-RPC amplification -----------------------------------------------------------------


@pytest.fixture(scope="module")
def journal(server, accounts) -> str:
    """A few public releases, so that changelog(0) has rows to answer with."""
    name = unique_name("changelog")
    for version in ("1.0", "1.1", "1.2"):
        assert upload(server, name, version).status_code == 200
    return name


def test_a_multicall_of_150_changelogs_is_not_150_times_one_changelog(server, journal, server_log, capsys):
    single = rpc(server, "changelog", 0)
    assert single.status_code == 200
    (rows,), _ = xmlrpc.client.loads(single.content)
    assert len(rows) >= 6
    calls = [{"methodName": "changelog", "params": [0]}] * 150
    body = xmlrpc.client.dumps((calls,), "system.multicall").encode()
    for _ in range(6):  # every worker has answered once: its peak is its working size
        rpc(server, "changelog_last_serial")
    before = {pid: peak_kib(pid) for pid in worker_pids(server)}

    response = post_rpc(server, body)

    after = {pid: peak_kib(pid) for pid in worker_pids(server)}
    growth_mib = max((after.get(pid, 0) - kib) / 1024 for pid, kib in before.items()) if before else 0.0
    amplification = len(response.content) / len(body)
    with capsys.disabled():
        print(
            f"\n150 x changelog(0) multicall: request {len(body)} B, response {len(response.content)} B "
            f"(x{amplification:.3f}); one changelog(0): {len(single.content)} B for {len(rows)} rows; "
            f"worker peak growth {growth_mib:.1f} MiB"
        )
    assert response.status_code == 200
    # The work and the answer are bounded per request, not multiplied by the calls in it.
    assert len(response.content) <= 2 * len(single.content) + 4096
    assert amplification < 1
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(response.content)
    assert "multicall" in fault.value.faultString.lower()
    assert growth_mib < 32
    assert server_log.server_errors() == []


FAULTING_CALLS = {
    "a string for a serial": xmlrpc.client.dumps(("not a number",), "changelog_since_serial").encode(),
    "a serial past 64 bits": call_with_i8("changelog_since_serial", 2**64),
    "a timestamp past year 9999": call_with_i8("changelog", 2**62),
    "a string for a timestamp": xmlrpc.client.dumps(("yesterday",), "changelog").encode(),
    "a struct for a name": xmlrpc.client.dumps(({"a": 1},), "package_releases").encode(),
    "too few parameters": xmlrpc.client.dumps(("acme",), "release_urls").encode(),
    "too many parameters": xmlrpc.client.dumps((1, 2, 3), "list_packages").encode(),
    "an unknown method": xmlrpc.client.dumps((), "no_such_method").encode(),
    "not XML": b"<not xml",
    "a response, not a call": xmlrpc.client.dumps((1,), methodresponse=True).encode(),
}


@pytest.mark.parametrize("case", list(FAULTING_CALLS))
def test_xmlrpc_faults_carry_no_python_exception_text(server, server_log, case):
    response = post_rpc(server, FAULTING_CALLS[case])
    assert response.status_code == 200
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(response.content)
    assert not EXCEPTION_TEXT.search(fault.value.faultString), fault.value.faultString
    assert server_log.server_errors() == []


# --- 5. control characters in metadata --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", "red \x1b[31malert\x1b[0m"),
        ("summary", "a\tb"),
        ("author", "Mallory\x0bBrown"),
        ("description", "a page\x0cbreak"),
        ("keywords", "one\x1ftwo"),
        ("home_page", "https://example.org/\x07"),
        ("classifiers", "Programming Language :: Python\x1b"),
        ("requires_dist", "requests\x08"),
    ],
)
def test_control_characters_are_refused_at_upload_naming_the_field(server, accounts, sql, server_log, field, value):
    name = unique_name("ctrl")

    response = upload(server, name, "1.0", **{field: value})

    assert response.status_code == 400, response.text
    assert field in response.text
    assert "control character" in response.text
    assert sql.project_ids(name) == []
    assert server_log.server_errors() == []


def test_line_breaks_and_tabs_are_fine_in_multi_line_fields(server, accounts, sql):
    name = unique_name("multiline")
    response = upload(
        server,
        name,
        "1.0",
        description="# Title\r\n\r\n\tindented\nline",
        license="Line one\nLine two\n\tindented",
        keywords="one\ntwo",
    )
    assert response.status_code == 200, response.text
    assert sql.value(
        "SELECT r.description FROM releases_release r JOIN releases_project p ON p.id = r.project_id "
        "WHERE p.normalized_name = %s",
        name,
    ) == ("# Title\r\n\r\n\tindented\nline")


@pytest.fixture(scope="module")
def poisoned(server, accounts, sql) -> str:
    """A published release whose stored metadata has control characters (written before
    uploads refused them), and the newest one: the first item of the site-wide feed."""
    name = unique_name("poisoned")
    assert upload(server, name, "1.0").status_code == 200
    updated = sql.rows(
        "UPDATE releases_release r SET summary = %s, author = %s, author_email = %s, description = %s, "
        "license = %s, keywords = %s, yanked = true, yanked_reason = %s, published = now() "
        "FROM releases_project p WHERE p.id = r.project_id AND p.normalized_name = %s RETURNING r.id",
        "evil \x1b[31msummary\x1b[0m \ufffe",
        "Mallory\x0bBrown",
        "mallory@example.org\x01",
        "desc\x0cription",
        "license\x1f",
        "kw\x02",
        "yanked\x1b because",
        name,
    )
    assert len(updated) == 1
    sql.rows(
        "UPDATE releases_file f SET requires_python = %s FROM releases_release r, releases_project p "
        "WHERE r.id = f.release_id AND p.id = r.project_id AND p.normalized_name = %s RETURNING f.id",
        ">=3.8\x0b",
        name,
    )
    return name


@pytest.mark.parametrize("feed", ["/rss/updates.xml", "/rss/project/{name}/releases.xml"])
def test_stored_control_characters_never_break_a_feed(server, poisoned, server_log, feed):
    response = server.get(feed.format(name=poisoned))

    assert response.status_code == 200, response.text[:300]
    text = response.content.decode("utf-8")
    assert not XML_INVALID.search(text)
    items = ElementTree.fromstring(response.content).findall("./channel/item")
    mine = [item for item in items if item.findtext("title", "").startswith(poisoned)]
    assert len(mine) == 1
    assert mine[0].findtext("description") == "evil [31msummary[0m "
    assert "Mallory" in mine[0].findtext("author")
    assert server_log.server_errors() == []


def test_stored_control_characters_never_break_xmlrpc(server, poisoned, server_log):
    response = rpc(server, "release_urls", poisoned, "1.0")

    assert response.status_code == 200
    assert not XML_INVALID.search(response.content.decode("utf-8"))
    ((entry,),), _ = xmlrpc.client.loads(response.content)
    assert entry["requires_python"] == ">=3.8"
    assert entry["yanked_reason"] == "yanked because"
    assert server_log.server_errors() == []


@pytest.mark.parametrize(
    "page",
    ["/project/{name}/", "/project/{name}/1.0/", "/pypi/{name}/json", "/pypi/{name}/1.0/json", "/simple/{name}/"],
)
def test_stored_control_characters_never_break_a_page(server, poisoned, server_log, page):
    response = server.get(page.format(name=poisoned))
    assert response.status_code == 200, response.text[:300]
    assert server_log.server_errors() == []


# --- 9. draft capability URLs in admin, and Vary on 406 -----------------------------------------


def staff_session(server, manage, username: str, *permissions: str) -> requests.Session:
    manage.shell(
        "import os\n"
        "from django.contrib.auth.models import Permission, User\n"
        "user = User.objects.create_user(os.environ['E2E_NAME'], password=os.environ['E2E_PASSWORD'], is_staff=True)\n"
        "for codename in os.environ['E2E_PERMISSIONS'].split():\n"
        "    user.user_permissions.add(Permission.objects.get(content_type__app_label='releases', codename=codename))\n",
        name=username,
        password=PASSWORD,
        permissions=" ".join(permissions),
    )
    session = requests.Session()
    login = f"{server.url}/admin/login/"
    page = session.get(login, timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        login,
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/admin/"},
        headers={"Referer": login},
        timeout=30,
    )
    assert response.status_code == 200 and "/admin/logout/" in response.text, response.text[:500]
    return session


def test_staff_who_may_only_view_releases_do_not_see_draft_links(server, accounts, manage, sql, server_log):
    name = unique_name("capability")
    response = upload(server, name, "1.0", draft=True)
    assert response.status_code == 200, response.text
    token = draft_links(response.text).token
    ((release_id, *_),) = sql.releases(name)
    page = f"{server.url}/admin/releases/release/{release_id}/change/"

    viewer = staff_session(server, manage, unique_name("viewer"), "view_release")
    shown = viewer.get(page, timeout=30)
    assert shown.status_code == 200
    assert name in shown.text and "Draft." in shown.text
    assert token not in shown.text
    assert "/simple/draft/" not in shown.text and "--draft--" not in shown.text

    moderator = staff_session(server, manage, unique_name("moderator"), "view_release", "change_release")
    assert token in moderator.get(page, timeout=30).text
    assert server_log.server_errors() == []


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/simple/", {"Accept": "application/x-nonsense"}),
        ("/simple/{name}/", {"Accept": "image/png"}),
        ("/simple/{name}/?format=yaml", {}),
    ],
)
def test_a_406_varies_on_accept(server, journal, path, headers):
    response = server.get(path.format(name=journal), headers=headers)
    assert response.status_code == 406
    assert "accept" in [part.strip().lower() for part in response.headers.get("Vary", "").split(",")]
