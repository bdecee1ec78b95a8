"""The reusable reads (releases/selectors.py) and the private-page headers (releases/http.py)."""

from __future__ import annotations

import pytest
from django.http import HttpResponse

from releases import selectors
from releases.http import private
from releases.models import Release
from tests.support.factories import make_draft, make_published


def releases(*specs: str) -> list[Release]:
    """'1.0', or '1.0!' for a yanked one."""
    return [Release(version=spec.rstrip("!"), yanked=spec.endswith("!")) for spec in specs]


@pytest.mark.parametrize(
    ("specs", "latest"),
    [
        (["1.0", "1.1", "2.0b1"], "1.1"),
        (["1.0", "1.1!", "2.0b1"], "1.0"),
        (["1.0!", "2.0b1"], "2.0b1"),  # an unyanked prerelease beats a yanked final
        (["1.0!", "2.0b1!"], "1.0"),  # all yanked: finals first, as on pypi.org
        (["2.0b1", "2.0rc1"], "2.0rc1"),
        (["1.10", "1.9"], "1.10"),
    ],
)
def test_latest_release_is_pypis(specs, latest):
    assert selectors.latest_release(releases(*specs)).version == latest


def test_latest_of_nothing_is_none():
    assert selectors.latest_release([]) is None


def test_versions_sort_in_pep_440_order():
    ordered = selectors.by_version(releases("1.10", "1.0", "1.0rc1", "1.9"), newest_first=True)
    assert [r.version for r in ordered] == ["1.10", "1.9", "1.0", "1.0rc1"]
    assert selectors.version_key("not a version") < selectors.version_key("0.0.1")


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["1.0", "1.00", "v1.0", "V1.0"])
def test_find_release_by_any_spelling(project, alice, spelling):
    release = make_published(project, "1.0", by=alice)
    assert selectors.find_release(Release.objects.filter(project=project), spelling) == release


@pytest.mark.django_db
def test_find_release_respects_the_callers_visibility(project, bob):
    draft = make_draft(project, "2.0", by=bob)
    assert selectors.find_release(Release.objects.filter(project=project), "2.0") == draft
    assert selectors.find_release(Release.objects.published().filter(project=project), "2.0") is None
    assert selectors.find_release(Release.objects.filter(project=project), "9" * 5000) is None


@pytest.mark.parametrize(
    ("token_in_url", "expected"),
    [
        (
            True,
            {
                "Cache-Control": "private, no-store",
                "X-Robots-Tag": "noindex, nofollow",
                "Referrer-Policy": "no-referrer",
            },
        ),
        (False, {"Cache-Control": "private, no-store"}),
    ],
)
def test_private_headers(token_in_url, expected):
    response = private(HttpResponse(), token_in_url=token_in_url)
    assert {name: response.get(name) for name in expected} == expected
    if not token_in_url:
        assert "Referrer-Policy" not in response and "X-Robots-Tag" not in response


@pytest.mark.django_db
def test_public_release_page_redirects_other_spellings_of_a_version(client, project, alice):
    make_published(project, "1.0", by=alice)
    response = client.get("/project/acme/1.00/")
    assert response.status_code == 301
    assert response["Location"] == "/project/acme/1.0/"
