"""The first five minutes of a newcomer, clicked through in a real browser: sign in, create a
token, copy the upload and install commands, search, hit an unknown URL, and read the
install command on a phone. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from releases.services import draft_token
from tests.conftest import PASSWORD
from tests.support.factories import make_draft, make_project, make_published

from .conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# What sticks out: for a failure's message.
WIDE = """[...document.querySelectorAll('main *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map(el => el.tagName + ' ' + el.textContent.slice(0, 60))"""


@pytest.fixture
def acme(project, alice, bob, charlie):
    """acme: a published 1.0 and a draft 2.0 with a long version; `hangar` has only a draft."""
    make_published(project, "1.0", by=alice, summary="Rocket parts for the discerning coyote")
    draft = make_draft(project, "2.0.0rc1.post1234567890", by=bob, summary="Secret draft summary")
    make_draft(make_project("hangar", owner=charlie), "0.1", by=charlie, summary="Rocket hangar, unreleased")
    return draft


def click_copy_and_read(page, target: str) -> str:
    """Click the Copy button of `#target`; return what landed on the clipboard."""
    button = page.locator(f"button.copy[data-copy-target='{target}']")
    button.click()
    expect(button).to_have_text("Copied")
    return page.evaluate("navigator.clipboard.readText()")


def test_quick_start_sign_in_create_a_token_copy_the_commands(new_page, acme, live_server):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.sign_in("alice", PASSWORD)

    page.open("/")
    upload_here = page.locator("section.quick-start")
    expect(upload_here).to_contain_text("Upload here")
    expect(page.locator("#upload-url")).to_have_text(f"{live_server.url}/legacy/")
    twine = page.locator("#twine-command").inner_text()
    assert twine.startswith(f"twine upload --repository-url {live_server.url}/legacy/ -u __token__")
    assert click_copy_and_read(page, "twine-command") == twine
    assert click_copy_and_read(page, "upload-url") == f"{live_server.url}/legacy/"
    page.screenshot("40-home-signed-in")

    upload_here.locator("a:has-text('API token')").click()
    expect(page.locator("h1")).to_have_text("API tokens")
    page.fill("input[name=description]", "my laptop")
    page.click("text=Create token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("pypd-")
    assert click_copy_and_read(page, "new-token") == token
    twine = page.locator("#twine-command").inner_text()
    assert twine == f"twine upload --repository-url {live_server.url}/legacy/ -u __token__ -p {token} dist/*"
    assert click_copy_and_read(page, "twine-command") == twine
    assert click_copy_and_read(page, "uv-publish-command") == (
        f"uv publish --publish-url {live_server.url}/legacy/ --token {token}"
    )
    page.screenshot("41-new-token")

    # The public page's commands name this index, and copy exactly what they show.
    page.open("/project/acme/")
    pip = page.locator("#pip-command").inner_text()
    assert pip == f"pip install --index-url {live_server.url}/simple/ acme==1.0"
    assert click_copy_and_read(page, "pip-command") == pip
    uv = page.locator("#uv-command").inner_text()
    assert uv == f"uv pip install --index-url {live_server.url}/simple/ acme==1.0"
    assert click_copy_and_read(page, "uv-command") == uv


def test_search_from_the_home_page_never_shows_drafts(new_page, acme):
    page = new_page()
    page.open("/")
    expect(page.locator("ul.recent")).to_contain_text("acme 1.0")
    expect(page.locator("main")).not_to_contain_text("hangar")

    page.fill("input[name=q]", "rocket")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/search/?q=rocket")
    results = page.locator("ul.search-results li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("acme")
    expect(results.first).to_contain_text("1.0")
    expect(page.locator("main")).not_to_contain_text("hangar")
    expect(page.locator("main")).not_to_contain_text("Secret draft")
    page.screenshot("42-search")

    page.fill("input[name=q]", "hangar")
    page.click("form.search-form button[type=submit]")
    expect(page.locator("main")).to_contain_text("No project matches")
    expect(page.locator("ul.search-results")).to_have_count(0)

    page.fill("input[name=q]", "acme")
    page.press("input[name=q]", "Enter")
    page.locator("ul.search-results a:has-text('acme')").click()
    expect(page.locator(".release-header h1")).to_contain_text("acme 1.0")


def test_an_unknown_url_is_the_sites_404_page(new_page, settings):
    assert settings.DEBUG is False  # the live server runs like production
    page = new_page()
    response = page.open("/no/such/page/")
    assert response.status == 404
    expect(page.locator("header.site-header a.brand")).to_have_text("pypidraft")
    content = page.content()
    assert "Using the URLconf" not in content and "DEBUG = True" not in content
    page.screenshot("43-not-found")


def test_install_commands_wrap_on_a_phone(new_page, acme):
    phone = new_page(PHONE)
    preview = f"/project/acme/{acme.version}--draft--{draft_token(acme)}/"
    for path, pin in (("/project/acme/", "acme==1.0"), (preview, f"acme=={acme.version}")):
        phone.open(path)
        assert phone.evaluate(NO_SIDEWAYS_SCROLL), path
        for target in ("pip-command", "uv-command"):
            command = phone.locator(f"#{target}")
            assert command.inner_text().endswith(pin)
            # Wholly on screen and not scrolled inside its box: the pin is visible.
            box = command.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (path, box)
            assert command.evaluate("el => el.scrollWidth <= el.clientWidth"), (path, target)
            assert phone.locator(f"button.copy[data-copy-target='{target}']").is_visible()
    phone.screenshot("44-phone-draft-preview")


def test_the_api_docs_fit_the_screen(new_page):
    for viewport in (None, PHONE):
        page = new_page(viewport)
        page.open("/api/v1/docs/")
        ci = page.locator("#ci-commands")
        assert ci.evaluate("el => el.scrollWidth <= el.clientWidth")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(WIDE)
        expect(page.locator("button.copy[data-copy-target='ci-commands']")).to_be_visible()
    page.screenshot("45-phone-api-docs")
