"""OpenAPI 3.1 description of the admin API, generated from the models its handlers answer with.

`OPERATIONS` declares each route once (method, path, summary, answer model, parameters, who
may call it); `admin_app` builds its routes from the same table, so every route served is
described. `openapi(gated=…)` adds the gated routes of an application or gateway with their
202 hold contract (`HeldAnswer`), served from the root rather than the admin prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from deconnexion.web.admin_models import (
    MODELS,
    AuditList,
    Changed,
    Error,
    Health,
    Held,
    HeldAnswer,
    HeldList,
    StatsBody,
)

__all__ = ["OPERATIONS", "Operation", "openapi"]

SENDER = "DeconnexionSender"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str  # the handler's name in admin_app
    summary: str
    answer: type[BaseModel] | None  # None: not JSON (Prometheus text, this document)
    errors: tuple[int, ...] = (401, 403, 503)
    parameters: tuple[dict[str, Any], ...] = ()
    public: bool = False  # no caller needed
    media_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_LIST = (
    _query(
        "state",
        {"type": "string"},
        "held (default), claimed, released, cancelled, replaced, dead; comma-separated or repeated",
    ),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most (100)"),
    _query("offset", {"type": "integer", "minimum": 0}, "skip this many (0)"),
)
_AUDIT = (
    _query("since", {"type": "number"}, "epoch seconds"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "at most (1000)"),
    _query("message_id", {"type": "string"}, "one message's trail"),
)
_CANCEL = "Cancel a held message (its sender or the head of establishment)"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/health", "health", "Store reachable, worker alive", Health, (503,),
              public=True),
    Operation("GET", "/metrics", "metrics", "Prometheus text: a head's establishment; every "
              "establishment with the metrics token (Authorization: Bearer)", None,
              media_type="text/plain"),
    Operation("GET", "/openapi.json", "openapi_json", "This document", None, (), public=True),
    Operation("GET", "/held", "list_held", "Held messages of the caller's establishment "
              "(heads see all, others their own)", HeldList, (400, 401, 403, 503), _LIST),
    Operation("GET", "/held/{id}", "get_held", "One held message", Held,
              (401, 403, 404, 503), (_ID,)),
    Operation("DELETE", "/held/{id}", "cancel", _CANCEL, Changed,
              (401, 403, 404, 409, 503), (_ID,)),
    Operation("POST", "/held/{id}/cancel", "cancel", _CANCEL, Changed,
              (401, 403, 404, 409, 503), (_ID,)),
    Operation("POST", "/held/{id}/release", "release", "Release now (head of establishment "
              "only; audited)", Changed, (401, 403, 404, 409, 503), (_ID,)),
    Operation("GET", "/stats", "stats", "Counters of the caller's establishment", StatsBody),
    Operation("GET", "/audit", "audit", "Audit trail (head of establishment only)", AuditList,
              (400, 401, 403, 503), _AUDIT),
)  # fmt: skip

_STATUS = {
    400: "bad parameter: the message names it, the value and what is accepted",
    401: "not authenticated",
    403: "authenticated, not allowed (another establishment, not the head)",
    404: "unknown here (or another establishment's: never told apart)",
    409: "no longer held (released, cancelled, …)",
    413: "body larger than the route's max_body",
    503: "hold store unavailable",
}


def _content(model: type[BaseModel] | None, media_type: str) -> dict[str, Any]:
    if model is None:
        return {media_type: {"schema": {"type": "string" if media_type != "application/json"
                                        else "object"}}}  # fmt: skip
    return {media_type: {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _error_responses(statuses: Iterable[int]) -> dict[str, Any]:
    return {
        str(s): {"description": _STATUS[s], "content": _content(Error, "application/json")}
        for s in statuses
    }


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": f"{op.name}_{op.method.lower()}" if op.name == "cancel" else op.name,
        "summary": op.summary,
        "responses": {
            "200": {"description": "ok", "content": _content(op.answer, op.media_type)},
            **_error_responses(op.errors),
        },
    }
    if op.parameters:
        out["parameters"] = list(op.parameters)
    if op.public:
        out["security"] = []
    return out


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "schemas": schemas,
        "securitySchemes": {
            SENDER: {
                "type": "apiKey",
                "in": "header",
                "name": "Deconnexion-Sender",
                "description": "The gateway's signed sender header "
                "(<id>;<role>;<uai>;<expires>;<signature>). Mounted in an application, the "
                "admin API uses that application's own authentication instead.",
            }
        },
    }


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _gated(method: str, path: str) -> dict[str, Any]:
    names = _PARAM.findall(path)
    return {
        "summary": f"Gated route {method} {path}: passed to the application in an open window",
        "servers": [{"url": "/"}],
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ],
        "responses": {
            "202": {
                "description": "held in a quiet window; released at release_at",
                "headers": {
                    "Deconnexion-Release-At": {"schema": {"type": "string"}},
                },
                "content": _content(HeldAnswer, "application/json"),
            },
            "default": {"description": "the application's own answer (open window)"},
            **_error_responses((400, 413, 503)),
        },
    }


def openapi(gated: Iterable[tuple[str, str]] = (), *, server: str | None = None) -> dict[str, Any]:
    """The admin API's OpenAPI document; `gated` (method, path) adds gated routes' contract."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    for method, path in gated:
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[method.lower()] = _gated(method, path)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "deconnexion admin API",
            "version": "1",
            "description": "Held messages of the caller's establishment (droit à la "
            "déconnexion); a message of another establishment is 404.",
        },
        "security": [{SENDER: []}],
        "paths": paths,
        "components": _components(),
    }
    if server is not None:
        doc["servers"] = [{"url": server}]
    return doc
