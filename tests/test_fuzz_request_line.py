"""Generated request lines against `DeconnexionMiddleware` at 22:00: never a 500, and the
application never receives a request that a lenient router could take for a gated one."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import anyio
from _asgi_support import QUIET, Clock
from _request_lines import GATED_ROUTES, headers, lenient_gated, methods, targets
from hypothesis import HealthCheck, event, given, settings

from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.tenant import fixed

BODY = json.dumps({"audience": "parents", "text": "Sortie"}).encode()
RECEIVED: list[tuple[str, bytes, list[tuple[bytes, bytes]]]] = []


async def app(scope: Any, receive: Any, send: Any) -> None:
    RECEIVED.append((scope["method"], scope["raw_path"], list(scope["headers"])))
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b""})


GATE = DeconnexionMiddleware(
    app,
    queue=HoldQueue(MemoryStore()),
    routes=GATED_ROUTES,
    establishment=fixed(Establishment(uai="0750001A")),
    clock=Clock(QUIET),
)


def uvicorn_scope(method: str, target: bytes, extra: dict[str, str]) -> dict[str, Any]:
    """The scope uvicorn (h11) builds from a request line."""
    raw_path, _, query = target.partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": [
            (b"host", b"ent"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in extra.items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("ent", 80),
    }


def call(scope: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    anyio.run(GATE, scope, receive, send)
    return status


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, target=targets(), extra=headers)
def test_no_request_line_reaches_the_app_as_a_gated_request_in_a_quiet_window(
    method: str, target: bytes, extra: dict[str, str]
) -> None:
    RECEIVED.clear()
    status = call(uvicorn_scope(method, target, extra))
    event(f"status {status}")
    assert status in (201, 202, 400), status
    for got_method, raw_path, got_headers in RECEIVED:
        assert not lenient_gated(got_method, raw_path, got_headers), (method, target, extra)
