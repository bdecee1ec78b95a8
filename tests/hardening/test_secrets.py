"""Secrets: API tokens and draft tokens stay secret.

- The database holds only digests and nonces: every text column of every table is
  scanned for each plaintext token after tokens were created, used and rotated.
- Failed authentication is rate limited per client address and per account, with a 429
  and Retry-After, on the upload endpoint and the API, in process and on the real server.
- Tokens never reach the server's log (a real gunicorn, access log and Django log) nor an
  error page, whatever the request: successes, 401s, 404s, 405s, redirects.
- Draft pages send `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client

from releases.models import Release
from releases.services import create_api_token, draft_token
from tests.conftest import PASSWORD, Uploader, basic
from tests.e2e.harness import draft_links, unique_name
from tests.hardening.support import TwineUpload, write_wheel
from tests.support.factories import make_draft, make_published

DRAFT_INDEX = re.compile(r"/simple/draft/([a-z2-7]+)/")


def every_stored_value() -> list[tuple[str, str, bytes]]:
    """(table, column, value as bytes) for every non-null value of every table."""
    values = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    values.append((table, column, raw))
    return values


def forms_of(token: str) -> list[bytes]:
    """A token as it could be stored: itself, its secret part, and inside Basic credentials."""
    forms = [token.encode(), token[12:].encode()]
    forms.append(base64.b64encode(f"__token__:{token}".encode()))
    return forms


@pytest.mark.django_db
def test_api_and_draft_tokens_are_stored_only_as_digests_and_nonces(client, project, alice, uploader, settings):
    tokens = []
    # API tokens from the service, the command and the dashboard (shown once, on the page).
    tokens.append(create_api_token(user=alice, description="service")[1])
    out = io.StringIO()
    call_command("create_api_token", "alice", "--project", "acme", stdout=out)
    tokens.append(out.getvalue().strip())
    client.force_login(alice)
    page = client.post("/manage/tokens/", {"description": "dashboard"})
    # Shown once, on this page (also inside the twine and uv commands with copy buttons).
    tokens += sorted(set(re.findall(r"pypd-[A-Za-z0-9_\-]{20,}", page.content.decode())))
    assert len(tokens) == 3 and all(t.startswith("pypd-") for t in tokens)
    # Tokens in use: an upload (its `last_used`), an API call, a draft and its rotation.
    assert uploader.upload("acme", "1.0", auth=basic("__token__", tokens[0])).status_code == 200
    draft_upload = uploader.upload("acme", "2.0", path="/legacy/draft/", auth=basic("__token__", tokens[0]))
    first_draft_token = DRAFT_INDEX.search(draft_upload.content.decode()).group(1)
    api = Client()
    bearer = {"Authorization": f"Bearer {tokens[1]}"}
    rotated = api.post("/api/v1/projects/acme/releases/2.0/rotate-token/", headers=bearer)
    assert rotated.status_code == 200
    second_draft_token = DRAFT_INDEX.search(rotated.json()["draft_index_url"]).group(1)
    assert second_draft_token != first_draft_token
    # The draft's pages were visited, by its token, by the dashboard and by the API.
    assert client.get(f"/project/acme/2.0--draft--{second_draft_token}/").status_code == 200
    assert client.get(f"/simple/draft/{second_draft_token}/acme/").status_code == 200
    assert client.get("/manage/projects/acme/").status_code == 200
    assert api.get("/api/v1/projects/acme/releases/", headers=bearer).status_code == 200
    draft = Release.objects.get(version="2.0")
    assert draft_token(draft) == second_draft_token  # the dashboard can show it again ...
    secrets = [form for token in tokens for form in forms_of(token)]
    secrets += [first_draft_token.encode(), second_draft_token.encode()]

    stored = every_stored_value()

    assert len(stored) > 50
    leaks = [(table, column) for table, column, raw in stored for secret in secrets if secret in raw]
    assert leaks == []  # ... yet the database alone never holds it.


# --- rate limits -------------------------------------------------------------------------


def upload_from(address: str, user: str, password: str, headers: dict | None = None):
    """An in-process upload of acme 1.0 from the client address `address`."""
    return Uploader(Client(REMOTE_ADDR=address)).upload("acme", "1.0", user=user, password=password, headers=headers)


def api_get(token: str, address: str, headers: dict | None = None):
    return Client(REMOTE_ADDR=address).get(
        "/api/v1/projects/acme/releases/", headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )


def assert_limited(response) -> None:
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in response.content.decode()


@pytest.mark.django_db
def test_failed_logins_are_limited_per_account_from_any_address(project, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 3
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 1000
    for n in range(3):
        assert upload_from(f"198.51.100.{n}", "alice", "wrong").status_code == 401

    # The account is over its limit: the addresses that failed on it wait for its window,
    # even with the right password (usernames are limited case-insensitively).
    assert_limited(upload_from("198.51.100.0", "alice", PASSWORD))
    assert_limited(upload_from("198.51.100.2", "ALICE", "wrong"))
    # Another address gets one guess, then waits too.
    assert upload_from("198.51.100.78", "alice", "wrong").status_code == 401
    assert_limited(upload_from("198.51.100.78", "alice", PASSWORD))
    # Another account from those very addresses is not affected.
    assert upload_from("198.51.100.0", "bob", PASSWORD).status_code == 200
    # And the owner, from an address that never failed, is not locked out by the attacks.
    assert upload_from("198.51.100.77", "alice", PASSWORD).status_code != 429


@pytest.mark.django_db
def test_failed_logins_are_limited_per_address_on_upload_and_api(project, alice, settings):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 6
    settings.PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = 1000
    good_token = create_api_token(user=alice)[1]
    attacker = "203.0.113.66"
    # Failures of every kind count for the address: wrong passwords for several accounts,
    # bad API tokens, garbage credentials, whatever X-Forwarded-For claims.
    assert upload_from(attacker, "alice", "wrong").status_code == 401
    assert upload_from(attacker, "bob", "wrong", headers={"X-Forwarded-For": "10.0.0.1"}).status_code == 401
    assert upload_from(attacker, "__token__", "pypd-invalid").status_code == 401
    assert api_get("pypd-invalid", attacker).status_code == 401
    assert api_get("pypd-invalid-too", attacker, headers={"X-Forwarded-For": "10.0.0.2"}).status_code == 401
    assert api_get("garbage", attacker).status_code == 401

    assert_limited(upload_from(attacker, "alice", PASSWORD))
    # A valid API token (256 random bits, checked first) is never refused, even from there.
    assert api_get(good_token, attacker).status_code == 200
    limited_api = api_get("pypd-invalid-again", attacker)
    assert limited_api.status_code == 429
    assert int(limited_api["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in limited_api.json()["detail"]
    # Everyone else is served as usual.
    assert upload_from("203.0.113.67", "alice", PASSWORD).status_code == 200
    assert api_get(good_token, "203.0.113.67").status_code == 200


def test_failed_logins_are_limited_across_the_real_servers_workers(server, manage, accounts):
    """Counters live in the database: three workers share them."""
    victim = unique_name("victim").replace("-", "_")
    manage.shell(
        "import os\nfrom django.contrib.auth.models import User\n"
        "User.objects.create_user(os.environ['E2E_NAME'], password=os.environ['E2E_PASSWORD'])\n",
        name=victim,
        password=PASSWORD,
    )
    for _ in range(10):  # PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT's default
        response = requests.post(server.legacy, auth=(victim, "wrong"), files={"x": b"y"}, timeout=10)
        assert response.status_code == 401
    response = requests.post(server.legacy, auth=(victim, PASSWORD), files={"x": b"y"}, timeout=10)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in response.reason


# --- logs and error pages ------------------------------------------------------------------


def test_tokens_never_appear_in_the_server_log_or_error_pages(server, alice_token, manage, dists, server_log, accounts):
    name = unique_name("secret")
    token_auth = ("__token__", alice_token)
    bearer = {"Authorization": f"Bearer {alice_token}"}
    revoked = manage("create_api_token", "alice", "--description", "to revoke").stdout.strip().splitlines()[-1]
    manage.shell(
        "import os\nfrom releases.models import ApiToken\nfrom releases.accounts.tokens import api_token_digest\n"
        "ApiToken.objects.filter(digest=api_token_digest(os.environ['E2E_TOKEN'])).delete()\n",
        token=revoked,
    )
    upload = TwineUpload(
        server.legacy_draft, write_wheel(dists, name, "1.0"), username="__token__", password=alice_token
    )
    created = upload.send()
    assert created.status_code == 200
    links = draft_links(created.text)
    token = links.token
    index = links.index
    module = name.replace("-", "_")
    listing = requests.get(f"{index}{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=30)
    file_url = listing.json()["files"][0]["url"]
    file_url = file_url if file_url.startswith("http") else requests.compat.urljoin(f"{index}{name}/", file_url)

    responses = {
        "preview": requests.get(links.preview, timeout=30),
        "draft root": requests.get(index, timeout=30),
        "draft project (JSON)": listing,
        "draft project, other spelling": requests.get(f"{index}{name.upper()}/", allow_redirects=False, timeout=30),
        "draft project, wrong project": requests.get(f"{index}not-{name}/", timeout=30),
        "draft file": requests.get(file_url, allow_redirects=False, timeout=30),
        "draft file metadata": requests.get(file_url + ".metadata", timeout=30),
        "draft file, wrong name": requests.get(file_url.replace(module, module + "x"), timeout=30),
        "draft index, POST": requests.post(index, timeout=30),
        "draft index, bad token": requests.get(index.replace(token, token[::-1]), timeout=30),
        "preview, wrong version": requests.get(links.preview.replace("1.0--draft", "9.9--draft"), timeout=30),
        "with the preview as Referer": requests.get(server.simple, headers={"Referer": links.preview}, timeout=30),
        # An API token is recognisable anywhere (its prefix); a draft token only where the
        # app puts it (its URLs and what refers to them), so only there is it looked for.
        "API token in a query string": requests.get(f"{server.simple}?token={alice_token}", timeout=30),
        "API with the token": requests.get(
            f"{server.url}/api/v1/projects/{name}/releases/", headers=bearer, timeout=30
        ),
        "API, unknown project": requests.get(
            f"{server.url}/api/v1/projects/no-{name}/releases/", headers=bearer, timeout=30
        ),
        "API, unknown endpoint": requests.get(f"{server.url}/api/v1/x/{alice_token}", headers=bearer, timeout=30),
        "API, revoked token": requests.get(
            f"{server.url}/api/v1/projects/{name}/releases/", headers={"Authorization": f"Bearer {revoked}"}, timeout=30
        ),
        "API, Basic token": requests.get(f"{server.url}/api/v1/projects/{name}/releases/", auth=token_auth, timeout=30),
        "upload, revoked token": requests.post(
            server.legacy, auth=("__token__", revoked), files={"x": b"y"}, timeout=30
        ),
        "upload, bad form": requests.post(server.legacy_draft, auth=token_auth, files={"x": b"y"}, timeout=30),
    }
    rotated = requests.post(
        f"{server.url}/api/v1/projects/{name}/releases/1.0/rotate-token/", headers=bearer, timeout=30
    )
    assert rotated.status_code == 200
    new_token = DRAFT_INDEX.search(rotated.json()["draft_index_url"]).group(1)
    responses["old token after rotation"] = requests.get(index, timeout=30)
    published = requests.post(f"{server.url}/api/v1/projects/{name}/releases/1.0/publish/", headers=bearer, timeout=30)
    assert published.status_code == 200
    responses["retired link"] = requests.get(links.preview.replace(token, new_token), allow_redirects=False, timeout=30)

    expected = {
        "preview": 200,
        "draft root": 200,
        "draft project, other spelling": 301,
        "draft project, wrong project": 404,
        "draft file": 302,
        "draft file metadata": 200,
        "draft file, wrong name": 404,
        "draft index, POST": 403,  # CSRF refuses it before the view could say 405
        "draft index, bad token": 404,
        "preview, wrong version": 404,
        "API, unknown project": 404,
        "API, unknown endpoint": 404,
        "API, revoked token": 401,
        "upload, revoked token": 401,
        "upload, bad form": 400,
        "old token after rotation": 404,
        "retired link": 301,
    }
    for what, status in expected.items():
        assert responses[what].status_code == status, (what, responses[what].status_code)

    secrets = [alice_token, alice_token[12:], revoked, revoked[12:], token, new_token]
    secrets.append(base64.b64encode(f"__token__:{alice_token}".encode()).decode())
    log = server_log.text()
    assert "/simple/draft/[redacted]/" in log  # the requests were logged, scrubbed
    assert [s for s in secrets if s in log] == []
    # The API's catch-all 404 repeats the path the client asked for; a token the client put
    # there itself comes back to that client only (reported, not counted as a leak here).
    error_pages = {what: r for what, r in responses.items() if r.status_code >= 400 and what != "API, unknown endpoint"}
    for what, response in error_pages.items():
        assert [s for s in secrets if s in response.text] == [], what
    assert server_log.server_errors() == []


# --- Referrer-Policy -------------------------------------------------------------------------


@pytest.fixture
def draft_pages(client, project, alice):
    make_published(project, "1.0", by=alice)
    token = draft_token(make_draft(project, "2.0", by=alice))
    file_path = json.loads(
        client.get(f"/simple/draft/{token}/acme/", HTTP_ACCEPT="application/vnd.pypi.simple.v1+json").content
    )["files"][0]["url"]
    return token, file_path


DRAFT_PAGES = {
    "preview": lambda token, _file: f"/project/acme/2.0--draft--{token}/",
    "draft index": lambda token, _file: f"/simple/draft/{token}/",
    "draft project index": lambda token, _file: f"/simple/draft/{token}/acme/",
    "draft project index (JSON)": lambda token, _file: f"/simple/draft/{token}/acme/?format=json",
    "draft file": lambda _token, file: file,
    "draft file metadata": lambda _token, file: file + ".metadata",
}
DASHBOARD_PAGES = ["/manage/projects/acme/", "/manage/projects/acme/releases/2.0/"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", list(DRAFT_PAGES))
def test_draft_pages_send_referrer_policy_no_referrer(client, alice, draft_pages, page):
    token, file_path = draft_pages
    client.force_login(alice)
    response = client.get(DRAFT_PAGES[page](token, file_path))
    assert response.status_code in (200, 302), response.status_code
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_pages_keep_same_origin_referrers(client, alice, draft_pages, path):
    # Their URLs hold no token (only their content does), and their forms need an Origin:
    # under no-referrer browsers send "Origin: null" and CSRF protection refuses the POST.
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_old_draft_links_redirect_with_referrer_policy_no_referrer(client, alice, draft_pages):
    token, _file = draft_pages
    publish = Client()
    bearer = {"Authorization": f"Bearer {create_api_token(user=alice)[1]}"}
    assert publish.post("/api/v1/projects/acme/releases/2.0/publish/", headers=bearer).status_code == 200
    for path in (f"/project/acme/2.0--draft--{token}/", f"/simple/draft/{token}/acme/"):
        response = client.get(path)
        assert response.status_code == 301
        assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.django_db
def test_draft_pages_do_not_weaken_the_policy_in_their_html(client, alice, draft_pages):
    token, _file = draft_pages
    client.force_login(alice)
    for path in (f"/project/acme/2.0--draft--{token}/", "/manage/projects/acme/releases/2.0/"):
        html = client.get(path).content.decode()
        policies = re.findall(r'<meta[^>]+name="referrer"[^>]+content="([^"]+)"', html)
        assert set(policies) <= {"no-referrer"}, (path, policies)
