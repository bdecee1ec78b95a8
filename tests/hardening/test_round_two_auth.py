"""Hardening, round two (issue #14, items 4 and 7), on the real server.

- The sign-in pages (`/accounts/login/`, `/admin/login/`) are rate limited like uploads:
  15 wrong passwords, then the right one, is refused with 429 while limited; the owner,
  from an address that never failed, still signs in.
- Bad API tokens never stop a valid one: ~100+ from one address are answered 429, and
  the valid token still uploads from that address; behind a trusted proxy, bad tokens
  from many clients count per client, never against the proxy's address.
- A forged Host header gets 400 on the fast paths (`/simple/…`, `/legacy/`), and nothing
  is stored.

The auth tests run a server of their own, behind one (pretended) trusted proxy: every
request names its client in X-Forwarded-For, each test with addresses of its own, so the
counters never touch 127.0.0.1's, which the rest of the suite shares.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.e2e.harness import PASSWORD, LiveServer, live_server, twine_post, unique_name
from tests.hardening.support import write_wheel

PER_IP = 100  # PYPIDRAFT_AUTH_FAILURES_PER_IP's default
PER_ACCOUNT = 10  # PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT's default
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(scope="module")
def proxied(e2e_environment, tmp_path_factory) -> Iterator[LiveServer]:
    """The real server with PYPIDRAFT_TRUSTED_PROXIES=1 and the default limits."""
    settings = {"PYPIDRAFT_TRUSTED_PROXIES": "1", "PYPIDRAFT_AUTH_FAILURES_PER_IP": str(PER_IP)}
    with live_server(e2e_environment, tmp_path_factory.mktemp("round-two"), workers=2, settings=settings) as server:
        yield server


def new_address() -> str:
    """A client address no other test (or run) uses."""
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def via_proxy(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def create_staff(manage) -> str:
    name = unique_name("signin").replace("-", "_")
    manage.shell(
        "import os\nfrom django.contrib.auth.models import User\n"
        "User.objects.create_superuser(os.environ['E2E_NAME'], password=os.environ['E2E_PASSWORD'])\n",
        name=name,
        password=PASSWORD,
    )
    return name


def sign_in(
    server: LiveServer, path: str, address: str
) -> tuple[requests.Session, Callable[[str, str], requests.Response]]:
    """A browser behind the proxy at `address` on the sign-in page; returns it and a
    function posting (username, password)."""
    browser = requests.Session()
    browser.headers.update(via_proxy(address))
    page = browser.get(f"{server.url}{path}", timeout=30)
    assert page.status_code == 200, page.status_code
    token = CSRF_INPUT.search(page.text).group(1)

    def post(username: str, password: str) -> requests.Response:
        return browser.post(
            f"{server.url}{path}",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
            allow_redirects=False,
            timeout=30,
        )

    return browser, post


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_wrong_passwords_then_the_right_one_are_refused_on_the_sign_in_pages(proxied, manage, path):
    victim = create_staff(manage)
    attacker, guess = sign_in(proxied, path, new_address())
    statuses = [guess(victim, f"wrong-{n}").status_code for n in range(15)]
    assert statuses == [200] * PER_ACCOUNT + [429] * (15 - PER_ACCOUNT)
    refused = guess(victim, PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in refused.text
    assert "sessionid" not in attacker.cookies
    # The owner, who never failed, is not locked out by the attacker.
    owner, sign = sign_in(proxied, path, new_address())
    accepted = sign(victim, PASSWORD)
    assert accepted.status_code == 302, accepted.status_code
    assert "sessionid" in owner.cookies


def bad_token_upload(server: LiveServer, address: str, n: int) -> int:
    response = requests.post(
        server.legacy,
        auth=("__token__", f"pypd-wrong-{n}-{secrets.token_hex(8)}"),
        files={"x": b"y"},
        headers=via_proxy(address),
        timeout=30,
    )
    return response.status_code


def test_bad_tokens_from_one_address_do_not_stop_a_valid_token(proxied, alice_token, dists, sql):
    address = new_address()
    statuses = [bad_token_upload(proxied, address, n) for n in range(PER_IP + 10)]
    assert statuses == [401] * PER_IP + [429] * 10
    name = unique_name("valid-token")
    uploaded = twine_post(
        write_wheel(dists, name, "1.0"),
        repository_url=proxied.legacy_draft,
        username="__token__",
        password=alice_token,
        headers=via_proxy(address),
    )
    assert uploaded.status_code == 200, uploaded.text
    api = requests.get(
        f"{proxied.url}/api/v1/projects/{name}/releases/",
        headers={"Authorization": f"Bearer {alice_token}", **via_proxy(address)},
        timeout=30,
    )
    assert api.status_code == 200, api.status_code
    # The audit log names the client, not the proxy.
    recorded = sql.value(
        "SELECT host(client_ip) FROM releases_auditevent WHERE project_name = %s ORDER BY id DESC LIMIT 1", name
    )
    assert recorded == address


def test_bad_tokens_from_many_clients_behind_the_proxy_do_not_stop_anyone(proxied, alice_token, dists, sql):
    addresses = [new_address() for _ in range(PER_IP + 20)]
    statuses = {bad_token_upload(proxied, address, n) for n, address in enumerate(addresses)}
    assert statuses == {401}  # one failure each: nobody, and not the proxy, is over a limit
    assert sql.value("SELECT count FROM releases_authfailure WHERE key = %s", f"ip:{addresses[0]}") == 1
    name = unique_name("behind-proxy")
    uploaded = twine_post(
        write_wheel(dists, name, "1.0"),
        repository_url=proxied.legacy_draft,
        username="__token__",
        password=alice_token,
        headers=via_proxy(new_address()),
    )
    assert uploaded.status_code == 200, uploaded.text
    # A client over its limit cannot get a fresh counter by writing its own X-Forwarded-For.
    limited = new_address()
    assert {bad_token_upload(proxied, limited, n) for n in range(PER_IP)} == {401}
    spoofed = requests.post(
        proxied.legacy,
        auth=("__token__", "pypd-wrong"),
        files={"x": b"y"},
        headers=via_proxy(f"{new_address()}, {limited}"),  # what the proxy appends is last
        timeout=30,
    )
    assert spoofed.status_code == 429


def test_a_forged_host_gets_400_on_the_fast_paths_and_nothing_is_stored(server, alice_token, dists, sql, bucket):
    name = unique_name("host")
    published = twine_post(
        write_wheel(dists, name, "1.0"), repository_url=server.legacy, username="__token__", password=alice_token
    )
    assert published.status_code == 200, published.text
    forged = {"Host": "evil.example"}
    for path in ("/simple/", f"/simple/{name}/"):
        for _ in range(2):  # rendered and stored: the fast path answers from here on
            assert server.get(path).status_code == 200
        assert requests.get(f"{server.url}{path}", headers=forged, timeout=30).status_code == 400, path
        assert requests.head(f"{server.url}{path}", headers=forged, timeout=30).status_code == 400, path

    keys_before = set(bucket.keys())
    other = unique_name("forged-host")
    attempts = {
        "new project": (other, "1.0", server.legacy),
        "new draft": (other, "1.0", server.legacy_draft),
        "draft of an existing project": (name, "2.0", server.legacy_draft),
        "file of an existing release": (name, "1.0", server.legacy),
    }
    for what, (project, version, url) in attempts.items():
        # Another file than the one stored (another tag), so only the Host is wrong.
        path = write_wheel(dists, project, version, tag="py2.py3-none-any" if project == name else "py3-none-any")
        response = twine_post(path, repository_url=url, username="__token__", password=alice_token, headers=forged)
        assert response.status_code == 400, (what, response.status_code, response.text)
    assert sql.project_ids(other) == []
    assert [row[1] for row in sql.releases(name)] == ["1.0"]
    assert [f["filename"] for f in sql.files(name)] == [write_wheel(dists, name, "1.0").name]
    assert set(bucket.keys()) == keys_before
