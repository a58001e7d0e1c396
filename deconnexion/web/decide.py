"""The decision service: what a Java or PHP vie scolaire calls instead of embedding Python.

    deconnexion serve [--host 127.0.0.1] [--port 8040] [--policy FILE]   (deconnexion/cli/serve.py)

    POST /v1/decide    a `release` request  → the decision (as `deconnexion release --json`)
    POST /v1/check     a `check` request    → quiet or open (as `deconnexion check --json`)
    GET  /v1/windows   ?from=…&to=…&zone=…  → the quiet windows (as `deconnexion windows --json`)
    POST /v1/windows   a `windows` request in the body
    GET  /openapi.json the OpenAPI 3.1 document, generated from the models used here

Batch form: a JSON list of requests, or `{"items": [...]}`, is answered by a list in the same
order, each entry an answer or an error object (status 200: the batch itself was read). A bad
single request, and a body that is not a request at all, are answered 400 with
`{"error": {"code", "field", "value", "accepted", "message"}}`, the CLI's shape. Pure ASGI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from deconnexion.core.answers import CheckAnswer, DecisionAnswer, WindowsAnswer
from deconnexion.core.policy import Policy
from deconnexion.core.requests import (
    CheckRequest,
    ReleaseRequest,
    Schedulers,
    Where,
    WindowsRequest,
    answer_check,
    answer_release,
    answer_windows,
    invalid_request,
)
from deconnexion.errors import DeconnexionError, InvalidInputError
from deconnexion.web._http import BodyTooLarge, Receive, Scope, Send, read_body, route_path
from deconnexion.web.decide_openapi import openapi_document

__all__ = ["DecisionService"]

MAX_BODY = 8 * 1024 * 1024
MAX_ITEMS = 10_000
IN_THREAD = 64  # a batch larger than this is answered off the event loop

Handler = Callable[[Any, Any], dict[str, Any]]
# path → (request model, answer model, answer function)
Endpoint = tuple[type[Where], type[BaseModel], Handler]
ENDPOINTS: dict[str, Endpoint] = {
    "/v1/decide": (ReleaseRequest, DecisionAnswer, answer_release),
    "/v1/check": (CheckRequest, CheckAnswer, answer_check),
    "/v1/windows": (WindowsRequest, WindowsAnswer, answer_windows),
}


def _error(code: str, message: str, **where: Any) -> dict[str, Any]:
    return InvalidInputError(message, code=code, **where).to_dict()


class DecisionService:
    """The ASGI app. Schedulers are built per establishment on first use and kept."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.schedulers = Schedulers(policy)
        self.openapi = json.dumps(openapi_document(ENDPOINTS), ensure_ascii=False).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = route_path(scope), scope["method"]
        if path == "/openapi.json" and method == "GET":
            await _send(send, 200, self.openapi)
            return
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            accepted = "one of " + ", ".join([*ENDPOINTS, "/openapi.json"])
            body = _error("not_found", f"no route {path!r}", value=path, accepted=accepted)
            await _send_json(send, 404, body)
            return
        allowed = ("GET", "POST") if path == "/v1/windows" else ("POST",)
        if method not in allowed:
            body = _error(
                "method_not_allowed",
                f"{method} {path}: use {' or '.join(allowed)}",
                value=method,
                accepted=" or ".join(allowed),
            )
            await _send_json(send, 405, body, [(b"allow", ", ".join(allowed).encode())])
            return
        try:
            if method == "GET":
                payload: Any = _query(scope.get("query_string", b""))
            else:
                payload = from_json(await read_body(receive, MAX_BODY))
        except BodyTooLarge:
            body = _error("too_large", f"the body is over {MAX_BODY} bytes", accepted="smaller")
            await _send_json(send, 413, body)
            return
        except (ValueError, DeconnexionError) as exc:
            # A body that is not JSON, nested too deep, or a query given twice.
            detail = exc.to_dict() if isinstance(exc, DeconnexionError) else None
            body = detail or _error("invalid_json", f"the body is not JSON: {exc}")
            await _send_json(send, 400, body)
            return
        status, out = await self._answer(endpoint, payload)
        await _send_json(send, status, out)

    async def _answer(self, endpoint: Endpoint, payload: Any) -> tuple[int, Any]:
        items = _items(payload)
        if items is None:
            out = self._one(endpoint, payload)
            return (400 if "error" in out and len(out) == 1 else 200), out
        if len(items) > MAX_ITEMS:
            message = f"a batch of {len(items)} requests; at most {MAX_ITEMS} per call"
            return 400, _error("too_many", message, field="items", value=len(items))

        def run() -> list[dict[str, Any]]:
            return [self._one(endpoint, item) for item in items]

        if len(items) > IN_THREAD:
            return 200, await anyio.to_thread.run_sync(run)
        return 200, run()

    def _one(self, endpoint: Endpoint, item: Any) -> dict[str, Any]:
        model, answer_model, handler = endpoint
        try:
            request = model.model_validate(item)
            out = handler(self.schedulers.get(request), request)
        except ValidationError as exc:
            return invalid_request(exc, model).to_dict()
        except DeconnexionError as exc:
            return exc.to_dict()
        # Through the model the OpenAPI document describes: what is sent is what is documented.
        checked: dict[str, Any] = answer_model.model_validate(out).model_dump(
            mode="json", by_alias=True, exclude_unset=True
        )
        return checked


def _items(payload: Any) -> list[Any] | None:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict) and set(payload) == {"items"}:
        items = payload["items"]
        return items if isinstance(items, list) else [items]
    return None


def _query(raw: bytes) -> dict[str, str]:
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidInputError(
                f"{key}: given twice in the query", field=key, value=value, accepted="once"
            )
        out[key] = value
    return out


async def _send(send: Send, status: int, body: bytes, headers: Sequence[Any] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, payload: Any, headers: Sequence[Any] = ()) -> None:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate a caller escaped in its JSON goes back escaped, never as a 500.
    await _send(send, status, text.encode("utf-8", "backslashreplace"), headers)
