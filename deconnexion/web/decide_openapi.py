"""The decision service's OpenAPI 3.1 document, generated from the pydantic models that
`deconnexion.web.decide` validates requests with and passes answers through (never written by
hand: a field added to a model appears here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from deconnexion import __version__
from deconnexion.core.answers import ErrorAnswer

__all__ = ["openapi_document"]

REF = "#/components/schemas/{model}"
SUMMARIES = {
    "/v1/decide": "When may this message be released, and why? (deconnexion release)",
    "/v1/check": "Is this instant quiet, and when does it open? (deconnexion check)",
    "/v1/windows": "The quiet windows between two dates, with their reasons (deconnexion windows)",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _batch_of(schema: dict[str, Any]) -> dict[str, Any]:
    items = {"type": "array", "items": schema}
    return {
        "oneOf": [items, {"type": "object", "required": ["items"], "properties": {"items": items}}]
    }


def _operation(
    path: str, request: type[BaseModel], answer: type[BaseModel], *, body: bool
) -> dict[str, Any]:
    one = _ref(answer)
    error = _ref(ErrorAnswer)
    responses = {
        "200": _json(
            {"oneOf": [one, {"type": "array", "items": {"oneOf": [one, error]}}]},
            "the answer; for a batch, a list in the request order, each an answer or an error",
        ),
        "400": _json(error, "a bad request: the field, the value and what is accepted"),
        "413": _json(error, "body too large"),
    }
    op: dict[str, Any] = {
        "summary": SUMMARIES[path],
        "operationId": path.strip("/").replace("/", "_") + ("" if body else "_get"),
        "responses": responses,
    }
    if body:
        schema = {"oneOf": [_ref(request), _batch_of(_ref(request))]}
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
            "description": 'one request, or a batch: a list or {"items": [...]}',
        }
    return op


def _query_parameters(request: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """The request model's fields as query parameters, each with its generated schema."""
    generated = schemas[request.__name__]
    required = set(generated.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": schema}
        for name, schema in generated["properties"].items()
    ]


def openapi_document(
    endpoints: Mapping[str, tuple[type[BaseModel], type[BaseModel], object]],
) -> dict[str, Any]:
    """The document for `endpoints`: path → (request model, answer model, handler)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (req, "validation") for req, _, _ in endpoints.values()
    ]
    models += [(ans, "serialization") for _, ans, _ in endpoints.values()]
    models.append((ErrorAnswer, "serialization"))
    _, top = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    paths: dict[str, Any] = {}
    for path, (request, answer, _) in endpoints.items():
        paths[path] = {"post": _operation(path, request, answer, body=True)}
        if path == "/v1/windows":
            get = _operation(path, request, answer, body=False)
            get["parameters"] = _query_parameters(request, schemas)
            paths[path] = {"get": get, **paths[path]}
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deconnexion decision service",
            "version": __version__,
            "description": (
                "Droit à la déconnexion decisions over HTTP: the same requests and answers as "
                "the deconnexion command line with --json."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
