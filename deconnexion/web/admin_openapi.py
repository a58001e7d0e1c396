"""OpenAPI 3.1 description of the admin API (`deconnexion.web.admin`), written by hand."""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAPI"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "401": _json(_ref("Error"), "not authenticated"),
    "403": _json(_ref("Error"), "authenticated, not allowed"),
    "503": _json(_ref("Error"), "hold store unavailable"),
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_NOT_FOUND = {"404": _json(_ref("Error"), "unknown here (or another establishment's)")}
_CONFLICT = {"409": _json(_ref("Error"), "no longer held (released, cancelled…)")}


def _op(summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    responses = {"200": ok, **_ERRORS, **extra.pop("responses", {})}
    return {"summary": summary, "responses": responses, **extra}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "deconnexion admin API",
        "version": "1",
        "description": "Held messages of the caller's establishment (droit à la déconnexion).",
    },
    "paths": {
        "/health": {
            "get": {
                "summary": "Store reachable",
                "responses": {"200": _json({"type": "object"}, "ok"), "503": _ERRORS["503"]},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format",
                "responses": {"200": {"description": "metrics", "content": {"text/plain": {}}}},
            }
        },
        "/held": {
            "get": _op(
                "Held messages of the caller's establishment (heads see all, others their own)",
                _json(_ref("HeldList"), "messages"),
                parameters=[
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "held (default), claimed, released, cancelled, replaced, "
                        "dead; comma-separated or repeated",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                responses={"400": _json(_ref("Error"), "bad parameter")},
            )
        },
        "/held/{id}": {
            "get": _op(
                "One held message",
                _json(_ref("Held"), "the message"),
                parameters=[_ID],
                responses=_NOT_FOUND,
            ),
            "delete": _op(
                "Cancel (sender or head)",
                _json(_ref("Changed"), "cancelled"),
                parameters=[_ID],
                responses={**_NOT_FOUND, **_CONFLICT},
            ),
        },
        "/held/{id}/cancel": {
            "post": _op(
                "Cancel (sender or head)",
                _json(_ref("Changed"), "cancelled"),
                parameters=[_ID],
                responses={**_NOT_FOUND, **_CONFLICT},
            )
        },
        "/held/{id}/release": {
            "post": _op(
                "Release now (head of establishment only; audited)",
                _json(_ref("Changed"), "due now"),
                parameters=[_ID],
                responses={**_NOT_FOUND, **_CONFLICT},
            )
        },
        "/stats": {
            "get": _op("Counters of the caller's establishment", _json({"type": "object"}, "stats"))
        },
        "/audit": {
            "get": _op(
                "Audit trail (head of establishment only)",
                _json({"type": "object"}, "entries"),
                parameters=[
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "number"},
                        "description": "epoch seconds",
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "message_id", "in": "query", "schema": {"type": "string"}},
                ],
            )
        },
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status", "message"],
                "properties": {
                    "error": {"type": "string"},
                    "status": {"type": "integer"},
                    "message": {"type": "string"},
                },
            },
            "Changed": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "state": {"type": "string"}},
            },
            "Held": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "state": {"type": "string"},
                    "kind": {"type": "string"},
                    "audience": {"type": "string"},
                    "release_at": {"type": "string", "format": "date-time"},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "actor": {"type": ["string", "null"]},
                },
            },
            "HeldList": {
                "type": "object",
                "properties": {
                    "establishment": {"type": "string"},
                    "count": {"type": "integer"},
                    "items": {"type": "array", "items": _ref("Held")},
                },
            },
        }
    },
}
