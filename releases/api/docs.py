"""A self-hosted reference page for the maintainer API, rendered from its OpenAPI schema.

Swagger UI and Redoc load their JavaScript from a CDN; this server must work without
internet and we load nothing from third parties, so the page is plain HTML rendered here
from the same schema that `/api/v1/schema/` serves.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.views.decorators.http import require_safe
from drf_spectacular.generators import SchemaGenerator

TEMPLATE = Path(__file__).parent / "templates" / "api" / "docs.html"
METHOD_ORDER = ["get", "post", "put", "patch", "delete"]


@functools.cache
def _template():
    # Compiled by the project's engine so it can extend the site's base layout.
    return engines["django"].from_string(TEMPLATE.read_text(encoding="utf-8"))


@functools.cache
def api_schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _ref_name(schema: dict[str, Any] | None) -> str | None:
    if not schema:
        return None
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
        return schema["items"]["$ref"].rsplit("/", 1)[-1] + "[]"
    return schema.get("type")


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "allOf" in prop:
        return " & ".join(_type_of(p) for p in prop["allOf"])
    if "oneOf" in prop:
        return " | ".join(_type_of(p) for p in prop["oneOf"])
    kind = prop.get("type", "object")
    if kind == "array":
        return f"array of {_type_of(prop.get('items', {}))}"
    if "enum" in prop:
        return " | ".join(f'"{value}"' for value in prop["enum"] if value is not None)
    if prop.get("format"):
        return f"{kind} ({prop['format']})"
    return kind


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in schema.get("paths", {}).items():
        for method in METHOD_ORDER:
            op = item.get(method)
            if op is None:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            found.append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {"name": p["name"], "in": p["in"], "description": p.get("description", "")}
                        for p in op.get("parameters", [])
                    ],
                    "request": _ref_name(body),
                    "responses": [
                        {
                            "status": code,
                            "description": response.get("description", ""),
                            "schema": _ref_name(response.get("content", {}).get("application/json", {}).get("schema")),
                        }
                        for code, response in op.get("responses", {}).items()
                    ],
                    "auth": bool(op.get("security")),
                }
            )
    return found


def components(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        required = set(component.get("required", []))
        found.append(
            {
                "name": name,
                "description": component.get("description", ""),
                "fields": [
                    {
                        "name": field,
                        "type": _type_of(prop),
                        "nullable": prop.get("nullable", False),
                        "read_only": prop.get("readOnly", False),
                        "required": field in required,
                        "description": prop.get("description", ""),
                    }
                    for field, prop in component.get("properties", {}).items()
                ],
            }
        )
    return found


@require_safe
def docs(request: HttpRequest) -> HttpResponse:
    schema = api_schema()
    context = {
        "info": schema.get("info", {}),
        "operations": operations(schema),
        "components": components(schema),
        "base_url": request.build_absolute_uri("/api/v1/"),
        "index_url": request.build_absolute_uri("/legacy/draft/"),
    }
    return HttpResponse(_template().render(context, request))
