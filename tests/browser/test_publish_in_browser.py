"""A maintainer and an admin drive a real browser: publish from the dashboard, publish with
Django admin's action, discard from the dashboard. Screenshots of the main pages are
saved to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from releases.models import AuditEvent, Release, Role
from tests.conftest import PASSWORD
from tests.support.factories import make_draft, make_published

from .conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)

DESCRIPTION = """# acme

A *test* package with a [link](https://example.org) and some code:

```python
import acme
print(acme.__version__)
```

<img src=x onerror="alert('xss')"> <script>alert('xss')</script>
"""


@pytest.fixture
def acme(project, alice, bob):
    """acme with a published 1.0 and a draft 2.0 (two wheels), as the browser sees it."""
    make_published(project, "1.0", by=alice, description=DESCRIPTION, description_content_type="text/markdown")
    draft = make_draft(
        project,
        "2.0",
        by=bob,
        files=2,
        description=DESCRIPTION,
        description_content_type="text/markdown",
        requires_python=">=3.9",
        project_urls={"Source": "https://example.org/acme", "Evil": "javascript:alert(1)"},
    )
    return draft


def simple_index(page, name: str = "acme") -> str:
    response = page.open(f"/simple/{name}/")
    assert response.status == 200
    return page.content()


def test_publish_a_draft_from_the_dashboard(new_page, acme):
    page = new_page()
    assert "acme-2.0" not in simple_index(page).replace("_", "-")

    page.sign_in("alice", PASSWORD)
    expect(page.locator("h1")).to_have_text("Your projects")
    expect(page.locator("table.projects")).to_contain_text("1 draft")
    page.screenshot("01-dashboard-projects")

    page.click("text=acme")
    rows = page.locator("table.releases tbody tr[data-version]")
    # The draft comes first, clearly marked, then the published release.
    expect(rows.nth(0)).to_have_attribute("data-version", "2.0")
    expect(rows.nth(0)).to_contain_text("Draft")
    expect(rows.nth(1)).to_have_attribute("data-version", "1.0")
    expect(rows.nth(1)).to_contain_text("Published")
    draft_box = rows.nth(0).bounding_box()
    published_box = rows.nth(1).bounding_box()
    assert draft_box["y"] < published_box["y"]
    index_url = page.locator(f"#draft-index-{acme.pk}").inner_text()
    assert re.fullmatch(r"http://[^/]+/simple/draft/[a-z0-9]+/", index_url)
    page.screenshot("02-manage-project")

    page.click("a.button.primary:has-text('Publish')")
    expect(page.locator("h1")).to_have_text("Publish acme 2.0?")
    expect(page.locator(".confirm")).to_contain_text("/simple/acme/")
    page.screenshot("03-confirm-publish")
    page.click("#confirm-publish")

    expect(page.locator(".messages")).to_contain_text("Published acme 2.0")
    expect(page.locator("table.releases tr.draft-row")).to_have_count(0)
    page.screenshot("04-after-publish")

    assert "acme-2.0-py3-none-any.whl" in simple_index(page)
    event = AuditEvent.objects.get(action="publish")
    assert (event.channel, event.actor_name, event.version) == ("web", "alice", "2.0")
    # The old draft index now redirects to the public one.
    response = page.goto(index_url)
    assert response.url.endswith("/simple/") and response.url != index_url


def test_publish_with_the_django_admin_action(new_page, acme, staff):
    page = new_page()
    page.sign_in("staff", PASSWORD, path="/admin/login/")
    page.open("/admin/releases/release/?status=draft")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Draft")
    page.screenshot("10-admin-release-list")

    page.check("#result_list tbody tr input.action-select")
    page.select_option("select[name=action]", "publish_selected")
    page.click("button[name=index]")
    expect(page.locator("#content")).to_contain_text("acme 2.0")
    page.screenshot("11-admin-confirm-publish")
    page.click("input[type=submit][value='Yes, publish']")

    expect(page.locator(".messagelist")).to_contain_text("Published acme 2.0")
    assert Release.objects.get(pk=acme.pk).published is not None
    assert AuditEvent.objects.get(action="publish").channel == "admin"
    assert "acme-2.0-py3-none-any.whl" in simple_index(page)


def test_publish_button_on_the_admin_change_page(new_page, acme, staff):
    page = new_page()
    page.sign_in("staff", PASSWORD, path="/admin/login/")
    page.open(f"/admin/releases/release/{acme.pk}/change/")
    expect(page.locator(".pypidraft-draft-panel")).to_contain_text("/simple/draft/")
    page.screenshot("12-admin-draft-change-page")
    page.click("a.pypidraft-publish")
    page.click("input[type=submit][value^='Yes, publish']")
    expect(page.locator(".messagelist")).to_contain_text("Published acme 2.0")
    assert "acme-2.0-py3-none-any.whl" in simple_index(page)


def test_discard_a_draft_from_the_dashboard(new_page, acme):
    page = new_page()
    page.sign_in("bob", PASSWORD)
    page.open("/manage/projects/acme/")
    page.click("a.button.danger:has-text('Discard')")
    expect(page.locator("h1")).to_contain_text("Discard the draft acme 2.0?")
    page.screenshot("05-confirm-discard")
    page.click("#confirm-discard")
    expect(page.locator(".messages")).to_contain_text("Discarded the draft acme 2.0")
    expect(page.locator("table.releases tbody tr[data-version]")).to_have_count(1)
    assert not Release.objects.filter(pk=acme.pk).exists()
    assert AuditEvent.objects.get(action="discard").channel == "web"


def test_copy_button_copies_the_draft_index_url(new_page, acme):
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.sign_in("alice", PASSWORD)
    page.open("/manage/projects/acme/")
    expected = page.locator(f"#draft-index-{acme.pk}").inner_text()
    page.click(f"button[data-copy-target='draft-index-{acme.pk}']")
    expect(page.locator(f"button[data-copy-target='draft-index-{acme.pk}']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_public_pages_preview_and_phone_layout(new_page, acme):
    page = new_page()
    page.open("/project/acme/")
    expect(page.locator(".release-header h1")).to_contain_text("acme 1.0")
    expect(page.locator(".description h1")).to_have_text("acme")
    # The description's script and event handler are inert: no dialog ever opens.
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    assert page.locator(".description script").count() == 0
    assert page.locator(".description img[onerror]").count() == 0
    page.screenshot("20-public-project")

    page.sign_in("alice", PASSWORD)
    page.open("/manage/projects/acme/")
    preview = page.locator("a:has-text('Preview')").first.get_attribute("href")
    page.goto(preview)
    expect(page.locator(".badge-draft")).to_have_text("Draft")
    expect(page.locator("#pip-command")).to_contain_text("pip install --extra-index-url")
    expect(page.locator(".release-side")).not_to_contain_text("2.0")  # history: published only
    page.screenshot("21-draft-preview")

    phone = new_page(PHONE)
    phone.sign_in("alice", PASSWORD)
    phone.open("/manage/projects/acme/")
    # Nothing sticks out sideways on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.screenshot("30-phone-manage-project")
    phone.open("/project/acme/")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.screenshot("31-phone-public-project")


def test_settings_and_tokens_pages(new_page, acme):
    page = new_page()
    page.sign_in("alice", PASSWORD)
    page.open("/manage/projects/acme/settings/")
    page.uncheck("input[name=auto_publish_releases]")
    page.click("form:has(input[name=auto_publish_releases]) button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("now start as drafts")
    page.screenshot("06-settings")

    page.open("/manage/tokens/")
    page.fill("input[name=description]", "CI release job")
    page.select_option("select[name=project]", label="acme")
    page.click("text=Create token")
    expect(page.locator("#new-token")).to_contain_text("pypd-")
    page.screenshot("07-tokens")


def test_admin_roles_inline_with_autocomplete(new_page, acme, staff, charlie):
    """The project form's inline and select2 autocomplete work under the strict CSP."""
    page = new_page()
    page.sign_in("staff", PASSWORD, path="/admin/login/")
    page.open(f"/admin/releases/project/{acme.project_id}/change/")
    page.click("#roles-group .add-row a")
    row = page.locator("#roles-group tr.dynamic-roles").last
    row.locator(".select2-selection").click()
    page.fill(".select2-search__field", "charl")
    page.click(".select2-results__option:has-text('charlie')")
    row.locator("select[name$='-role']").select_option("maintainer")
    page.screenshot("13-admin-project-roles")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert Role.objects.get(project=acme.project, user=charlie).role == "maintainer"
    assert AuditEvent.objects.get(action="add role", detail__user="charlie").channel == "admin"
