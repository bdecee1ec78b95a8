"""The OpenAPI schema, the self-hosted docs page, and JSON errors everywhere under /api/v1/."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/projects/{project_name}/", "get"),
    ("/api/v1/projects/{project_name}/", "patch"),
    ("/api/v1/projects/{project_name}/releases/", "get"),
    ("/api/v1/projects/{project_name}/releases/{version}/", "get"),
    ("/api/v1/projects/{project_name}/releases/{version}/", "delete"),
    ("/api/v1/projects/{project_name}/releases/{version}/publish/", "post"),
    ("/api/v1/projects/{project_name}/releases/{version}/rotate-token/", "post"),
}


def test_schema_describes_every_endpoint(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    found = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert found == OPERATIONS
    assert set(schema["components"]["securitySchemes"]) == {"apiToken", "apiTokenBasic"}
    release = schema["components"]["schemas"]["Release"]
    assert set(release["properties"]) == {
        "version",
        "is_draft",
        "created",
        "published",
        "draft_index_url",
        "preview_url",
        "files",
    }


def test_schema_is_yaml_by_default(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/"])
def test_docs_page_lists_the_endpoints_and_loads_nothing_external(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/projects/{project_name}/releases/{version}/publish/" in html
    assert "Publishing from CI" in html
    # No CDN: every script and stylesheet comes from this server.
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, "the page loads no script or stylesheet: the pattern is stale"
    for url in urls:
        assert not url.startswith(("http:", "https:", "//")), url
    assert "<script>" not in html


def test_unknown_api_path_is_a_json_404(alice_api):
    response = alice_api.get("/api/v1/nothing/here/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No API endpoint at /api/v1/nothing/here/."


def test_missing_trailing_slash_gets_a_hint(alice_api, project):
    response = alice_api.post("/api/v1/projects/acme/releases/1.0/publish")
    assert response.status_code == 404
    assert "trailing slash" in response.json()["detail"]


def test_wrong_method_is_a_json_405(alice_api, project):
    response = alice_api.post("/api/v1/projects/acme/releases/")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}


def test_failed_token_authentication_is_rate_limited(client, settings, db):
    settings.PYPIDRAFT_AUTH_FAILURES_PER_IP = 2
    for _ in range(2):
        assert client.get("/api/v1/projects/acme/releases/", HTTP_AUTHORIZATION="Bearer pypd-wrong").status_code == 401
    response = client.get("/api/v1/projects/acme/releases/", HTTP_AUTHORIZATION="Bearer pypd-wrong")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed authentication attempts" in response.json()["detail"]
