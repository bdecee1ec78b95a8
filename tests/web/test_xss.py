"""Metadata and descriptions are attacker-controlled: every page renders them inert.

A page is safe when it holds no script but our static files, no active element (iframe,
object, embed, style, base, meta refresh), no event handler or style attribute, and no `javascript:` link.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from releases.services import draft_token
from tests.support.factories import give_role, make_draft, make_published

pytestmark = pytest.mark.django_db

MARKDOWN = (
    '# Hello\n\n<script>alert("d1")</script>\n<img src="x" onerror="alert(\'d2\')">\n'
    "[click](javascript:alert('d3'))\n<a href=\"javascript:alert('d4')\">x</a>\n"
    "<svg onload=\"alert('d5')\"></svg>\n<iframe src=\"javascript:alert('d6')\"></iframe>\n"
    "<div style=\"background:url(javascript:alert('d7'))\" onmouseover=\"alert('d8')\">hover</div>\n"
)
RST = "Hello\n=====\n\n`x <javascript:alert('r1')>`_\n\n.. image:: javascript:alert('r2')\n"
PAYLOADS = {
    "summary": '<script>alert("summary")</script>',
    "author": '"><svg onload=alert("author")>',
    "author_email": "<img src=x onerror=alert('email')>@example.org",
    "maintainer": "</dd><script>alert('maintainer')</script>",
    "license": "<iframe src=javascript:alert('license')>",
    "keywords": "<b onmouseover=alert('keywords')>k</b>",
    "requires_python": '">=3.8"><script>alert("rp")</script>',
    "home_page": "javascript:alert('home')",
    "download_url": "JaVaScRiPt:alert('download')",
    "classifiers": ["<script>alert('classifier')</script>"],
    "requires_dist": ["evil; <script>alert('dep')</script>"],
    "project_urls": {"<script>alert('label')</script>": "javascript:alert('url')", "x": " javascript:alert('url2')"},
    "yanked_reason": "<script>alert('yank')</script>",
}

# Scripts of our own are static files under "/"; anything else is injected.
FOREIGN_SCRIPT = re.compile(r"""<script(?![^>]*\bsrc="/)""", re.IGNORECASE)
ACTIVE_TAG = re.compile(r"<(iframe|object|embed|style|base|meta(?=[^>]*refresh))\b", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""<[^>]*\b(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def assert_inert(html: str, *, must_show: str | None = None) -> None:
    for pattern in (FOREIGN_SCRIPT, ACTIVE_TAG, EVENT_HANDLER, STYLE_ATTRIBUTE, JAVASCRIPT_URL):
        match = pattern.search(html)
        assert match is None, html[max(match.start() - 80, 0) : match.end() + 80]
    if must_show:
        assert must_show in html


@pytest.fixture
def evil_user(db) -> User:
    # Usernames from the admin or a script may hold anything; created without validation.
    return User.objects.create_user("<img src=x onerror=alert('user')>", password="x" * 20)


@pytest.fixture(params=["markdown", "rst"])
def hostile(request, project, alice, evil_user):
    description, content_type = (MARKDOWN, "text/markdown") if request.param == "markdown" else (RST, "text/x-rst")
    fields = {**PAYLOADS, "description": description, "description_content_type": content_type}
    # The uploader's name is shown on the pages too; an upload needs a role.
    give_role(project, evil_user)
    published = make_published(project, "1.0", by=evil_user, **fields)
    draft = make_draft(project, "2.0", by=evil_user, **fields)
    return published, draft


ESCAPED_SUMMARY = "&lt;script&gt;alert(&quot;summary&quot;)&lt;/script&gt;"


def test_public_project_and_release_pages(client, hostile):
    for path in ("/project/acme/", "/project/acme/1.0/"):
        response = client.get(path)
        assert response.status_code == 200
        assert_inert(response.content.decode(), must_show=ESCAPED_SUMMARY)


def test_draft_preview(client, hostile):
    _, draft = hostile
    html = client.get(f"/project/acme/2.0--draft--{draft_token(draft)}/").content.decode()
    assert_inert(html, must_show=ESCAPED_SUMMARY)


@pytest.mark.parametrize(
    "path",
    [
        "/manage/",
        "/manage/projects/acme/",
        "/manage/projects/acme/releases/2.0/",
        "/manage/projects/acme/releases/1.0/",
        "/manage/projects/acme/releases/2.0/publish/",
        "/manage/projects/acme/releases/2.0/discard/",
        "/manage/projects/acme/releases/2.0/rotate/",
    ],
)
def test_manage_pages(as_alice, hostile, path):
    response = as_alice.get(path)
    assert response.status_code == 200
    assert_inert(response.content.decode())


def test_manage_pages_show_the_uploader_escaped(as_alice, hostile):
    html = as_alice.get("/manage/projects/acme/").content.decode()
    assert "&lt;img src=x onerror=alert(&#x27;user&#x27;)&gt;" in html
    assert_inert(html)


def test_admin_pages(as_staff, hostile):
    published, draft = hostile
    paths = [
        "/admin/releases/release/",
        "/admin/releases/release/?q=acme",
        f"/admin/releases/release/{published.pk}/change/",
        f"/admin/releases/release/{draft.pk}/change/",
        f"/admin/releases/release/{draft.pk}/publish/",
        "/admin/releases/file/",
        "/admin/releases/project/",
    ]
    for path in paths:
        response = as_staff.get(path)
        assert response.status_code == 200, path
        assert_inert(response.content.decode())
    confirm = as_staff.post(
        "/admin/releases/release/", {"action": "publish_selected", "_selected_action": [draft.pk, published.pk]}
    )
    assert confirm.status_code == 200
    assert_inert(confirm.content.decode())


def test_project_names_from_the_admin_form_are_escaped(as_staff):
    response = as_staff.post("/admin/releases/project/add/", {"name": "<script>alert(1)</script>"})
    assert response.status_code == 200  # refused: not a valid project name
    assert_inert(response.content.decode())
