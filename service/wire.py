"""Bodies in and out of the hot endpoints (``POST /v1/decisions``, ``POST /v1/rewards``) without FastAPI's
per-request body and dependency machinery, which costs more CPU than the decision itself.

* :func:`parse_body` validates the raw bytes with the pydantic model in one call (``model_validate_json``) and
  raises FastAPI's own :class:`~fastapi.exceptions.RequestValidationError` (locations under ``"body"``), so a bad
  body gets exactly the 422 FastAPI would give.
* :func:`json_response` answers pre-serialised JSON (the handlers build bodies of the response models' shape;
  the tests and the OpenAPI document check that shape).
* :func:`body_openapi` / :func:`add_schemas` keep the OpenAPI document what it was with a declared body
  parameter: the request body's schema and the bearer-token security requirement.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

REF = "#/components/schemas/{model}"


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """``model`` validated from the JSON bytes ``raw``; a 422 (``RequestValidationError``) naming each field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False):
            e["loc"] = ("body", *e["loc"])
            if isinstance(e.get("input"), bytes | bytearray):  # invalid JSON: echo no raw bytes (as FastAPI)
                e["input"] = {}
            errors.append(e)
        raise RequestValidationError(errors, body=raw) from None


def json_response(payload: Any, status_code: int = 200) -> Response:
    """``payload`` as compact JSON (NaN refused: the API never answers non-standard JSON)."""
    return Response(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), status_code,
                    media_type="application/json")


def body_openapi(model: type[BaseModel]) -> dict:
    """``openapi_extra`` of a route that reads a JSON body of ``model`` itself and needs a bearer token: the
    request body, the 422 FastAPI documents for a declared body, and the security requirement."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=model.__name__)}}}},
        "responses": {"422": {"description": "Validation Error", "content": {"application/json": {
            "schema": {"$ref": REF.format(model="HTTPValidationError")}}}}},
        "security": [{"HTTPBearer": []}]}


def add_schemas(app: FastAPI, models: list[type[BaseModel]]) -> None:
    """Put ``models``' JSON schemas (and the models they use) into ``app``'s OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for model in models:
                body = model.model_json_schema(ref_template=REF)
                schemas.update(body.pop("$defs", {}))
                schemas[model.__name__] = body
            components.setdefault("securitySchemes", {}).setdefault(
                "HTTPBearer", {"type": "http", "scheme": "bearer",
                               "description": "an API token of the policy registry"})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
