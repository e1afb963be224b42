"""Check API responses against api/openapi.yaml (OpenAPI 3.0 schemas turned into JSON Schema)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable` becomes a null alternative, refs point into $defs."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if "$ref" in converted:
        converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable"):
        if "enum" in converted and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        elif "$ref" in converted or "allOf" in converted or "oneOf" in converted:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@cache
def _routes() -> list[tuple[re.Pattern[str], str]]:
    routes = []
    for template in _spec()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        routes.append((re.compile(f"^{pattern}$"), template))
    return routes


def check(path: str, method: str, status: int, body: Any) -> None:
    """Raise when `body` does not match the contract's schema for this route, method and status."""
    template = next((t for pattern, t in _routes() if pattern.match("/" + path)), None)
    if template is None:
        schema_ref = {"$ref": "#/components/schemas/Error"}  # unknown routes answer an Error
    else:
        responses = _spec()["paths"][template][method.lower()]["responses"]
        response = responses.get(str(status))
        assert response is not None, f"{method} /{path} answered {status}, which the contract does not list"
        if "$ref" in response:
            response = _spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        schema_ref = response["content"]["application/json"]["schema"]
    schema = {**_json_schema(schema_ref), "$defs": _json_schema(_spec()["components"]["schemas"])}
    jsonschema.validate(body, schema)
