"""`ExactPasses` (deconnexion.web.exact_passes): the open-window pass remembered by the exact
bytes the gate judged. A request that differs from a remembered one in anything the gate
judges (request line, header names, content-length, urgency headers, sender's establishment,
time, gate) is answered exactly as a gate with empty caches answers it."""

from __future__ import annotations

from typing import Any

import pytest
from _asgi_support import OPEN, QUIET, USERS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deconnexion.core.caches import CACHES
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.exact_passes import EXACT_PASSES, exact_key, key_names
from deconnexion.web.identity import ANONYMOUS, Sender
from deconnexion.web.middleware import DeconnexionMiddleware, schedulers
from deconnexion.web.replay import REPLAY_KEY
from deconnexion.web.tenant import fixed, from_sender

pytestmark = pytest.mark.anyio

EIGHT_PM = QUIET - 2 * 3600  # Tuesday 4 November 2025, 20:00 in Paris
# Monday 16 February 2026, 10:00: zone C (Paris) at school, zone B (Strasbourg) on holiday.
WINTER_BREAK_B = 1771232400.0
BODY = b'{"audience": "parents", "text": "Sortie au musee jeudi"}'
ROUTES = [
    {"path": "/api/notifications", "kind": "message", "audience": "body:audience"},
    {
        "path": "/api/alerts/{level}",
        "kind": "message",
        "audience": "body:audience",
        "urgent": ("header:Deconnexion-Urgent", "query:urgent", "path:level"),
    },
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Ent:
    """An application behind the gate that records what it receives."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[tuple[bytes, bytes]], bytes]] = []

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            self.seen.append((request.method, list(request.scope["headers"]), body))
            return JSONResponse({"sent": True}, status_code=201)

        self.app = Starlette(
            routes=[
                Route("/api/notifications", endpoint, methods=["POST"]),
                Route("/api/alerts/{level}", endpoint, methods=["POST"]),
            ]
        )


def gate(now: list[float], **options: Any) -> tuple[DeconnexionMiddleware, Ent]:
    ent = Ent()
    options.setdefault("establishment", fixed(Establishment(uai="0750001A")))
    options.setdefault("routes", ROUTES)
    middleware = DeconnexionMiddleware(
        ent.app, queue=HoldQueue(MemoryStore()), clock=lambda: now[0], **options
    )
    return middleware, ent


def request(
    path: str = "/api/notifications",
    *,
    body: bytes = BODY,
    extra: list[tuple[bytes, bytes]] | None = None,
    user: str = "",
    **fields: Any,
) -> dict[str, Any]:
    headers = [
        (b"host", b"ent"),
        (b"authorization", f"Bearer {user or 'x'}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"idempotency-key", b"k-1"),
        *(extra or []),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("ent", 80),
    }
    if user:
        scope["user"] = USERS[user]
    scope.update(fields)
    return scope


async def call(app: Any, scope: dict[str, Any], body: bytes = BODY) -> tuple[int, bytes]:
    sent = False
    status, out = 0, b""

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, out
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out += message.get("body", b"")

    await app(dict(scope), receive, send)
    return status, out


async def primed(
    now: list[float], scope: dict[str, Any], **options: Any
) -> tuple[DeconnexionMiddleware, Ent]:
    """A gate that has passed `scope` once, so that it holds its exact pass."""
    CACHES.clear()
    middleware, ent = gate(now, **options)
    assert (await call(middleware, scope))[0] == 201
    assert CACHES.sizes()["exact passes"] == 1
    return middleware, ent


async def afresh(
    now: list[float], scope: dict[str, Any], body: bytes, **options: Any
) -> tuple[tuple[int, bytes], list[Any]]:
    """What a gate with empty caches answers, and what its application saw."""
    CACHES.clear()
    middleware, ent = gate(now, **options)
    return await call(middleware, scope, body), ent.seen


def big(n: int) -> bytes:
    return b'{"audience": "parents", "text": "' + b"x" * n + b'"}'


def _with_length(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, value if k == b"content-length" else v) for k, v in request()["headers"]]


# Each differs from request() in one thing the gate judges; the body sent with it.
VARIANTS: dict[str, tuple[dict[str, Any], bytes]] = {
    "a declared length over max_body": (request(body=big(200)), big(200)),
    "a repeated header name, body over max_body": (
        request(extra=[(b"accept", b"*/*"), (b"accept", b"*/*")]),
        big(200),
    ),
    "a repeated content-length": (
        request(extra=[(b"content-length", b"500")]),
        big(200),
    ),
    "a method override header": (
        request(extra=[(b"x-http-method-override", b"DELETE")]),
        BODY,
    ),
    "a path the server decoded otherwise": (
        {**request(), "path": "/api/other"},
        BODY,
    ),
    "a root path": ({**request(), "root_path": "/api"}, BODY),
    "a dot segment": (
        {**request(), "raw_path": b"/api/./notifications"},
        BODY,
    ),
    "another case of the method": ({**request(), "method": "post"}, BODY),
    "a query string": ({**request(), "query_string": b"a=%zz#x"}, BODY),
    "a declared length with leading zeros": (
        {**request(), "headers": _with_length(b"00000000056")},
        BODY,
    ),
    "a declared length that is not a number": (
        {**request(), "headers": _with_length(b"5e1")},
        BODY,
    ),
    "an upper-case header name": (
        request(extra=[(b"Content-Length", b"500")]),
        big(200),
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
async def test_a_request_differing_in_what_the_gate_judges_is_answered_as_afresh(
    name: str,
) -> None:
    scope, body = VARIANTS[name]
    now = [OPEN]
    expected, seen_afresh = await afresh(now, scope, body, max_body=100)
    middleware, ent = await primed(now, request(), max_body=100)
    assert await call(middleware, scope, body) == expected
    assert ent.seen[1:] == seen_afresh


async def test_the_same_bytes_pass_from_the_exact_pass_without_asking_the_gate() -> None:
    now = [OPEN]
    middleware, ent = await primed(now, request())

    def refuse(*args: Any) -> int:
        raise AssertionError("judged afresh")

    middleware.gate.triage = refuse  # type: ignore[method-assign]
    # another credential, idempotency key and body length: none decides anything here
    other = request(body=big(10), user="chef")
    other["headers"][4] = (b"idempotency-key", b"k-2")
    assert await call(middleware, other, big(10)) == (201, b'{"sent":true}')
    assert ent.seen[-1][2] == big(10)  # the body streamed to the application untouched


async def test_an_exact_pass_ends_exactly_at_the_window_end() -> None:
    now = [EIGHT_PM - 1]
    middleware, ent = await primed(now, request())
    now[0] = EIGHT_PM - 0.001
    assert (await call(middleware, request()))[0] == 201
    now[0] = EIGHT_PM
    assert (await call(middleware, request()))[0] == 202
    now[0] = EIGHT_PM - 0.001  # the clock is read again: open again
    assert (await call(middleware, request()))[0] == 201
    assert len(ent.seen) == 3


async def test_an_exact_pass_is_not_used_before_the_window_starts() -> None:
    now = [OPEN]
    middleware, _ = await primed(now, request())
    now[0] = OPEN - 3 * 3600 - 1  # 06:59:59
    assert (await call(middleware, request()))[0] == 202


async def test_one_establishment_s_exact_pass_is_never_another_s() -> None:
    now = [WINTER_BREAK_B]
    middleware, ent = await primed(now, request(user="prof"), establishment=from_sender())
    # the same bytes but the credential: Strasbourg (zone B) is on holiday
    assert (await call(middleware, request(user="prof-strasbourg")))[0] == 202
    assert (await call(middleware, request(user="prof")))[0] == 201
    assert len(ent.seen) == 2


async def test_one_gate_s_exact_pass_never_serves_another_gate() -> None:
    now = [OPEN]
    where = fixed(Establishment(uai="0750001A"))  # the same establishment object for both
    await primed(now, request(body=big(200)), max_body=10_000, establishment=where)
    strict, ent = gate(now, max_body=100, establishment=where)
    assert (await call(strict, request(body=big(200)), big(200)))[0] == 413
    assert ent.seen == []


async def test_a_replayed_scope_is_never_passed_by_an_exact_pass() -> None:
    now = [OPEN]
    middleware, ent = await primed(now, request())
    status, body = await call(middleware, {**request(), REPLAY_KEY: "forged"})
    assert (status, b"invalid_replay" in body) == (400, True)
    assert len(ent.seen) == 1


async def test_a_replay_marker_of_none_is_no_replay() -> None:
    now = [OPEN]
    middleware, ent = await primed(now, request())
    assert (await call(middleware, {**request(), REPLAY_KEY: None}))[0] == 201
    assert len(ent.seen) == 2


async def test_the_middleware_keeps_a_pass_under_exact_key() -> None:
    now = [OPEN]
    scope = request()
    middleware, _ = await primed(now, scope)
    key = exact_key(middleware._token, scope, scope["headers"])
    assert EXACT_PASSES.get(key) is not None
    assert key_names(key) == tuple(name for name, _ in scope["headers"])
    # the same line and names but one more header: another key, judged afresh
    longer = exact_key(middleware._token, scope, [*scope["headers"], (b"accept", b"*/*")])
    assert EXACT_PASSES.get(longer) is None


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("urgency asked in a header", {"extra": [(b"deconnexion-urgent", b"true")]}),
        ("urgency asked in the query", {"query_string": b"urgent=true"}),
    ],
)
async def test_urgency_asked_is_judged_by_the_full_path(name: str, fields: dict[str, Any]) -> None:
    now = [OPEN]
    middleware, _ = await primed(now, request("/api/alerts/false"))
    asked: list[int] = []
    triage = middleware.gate.triage

    def counted(*args: Any) -> int:
        asked.append(1)
        return triage(*args)

    middleware.gate.triage = counted  # type: ignore[method-assign]
    assert (await call(middleware, request("/api/alerts/false", **fields)))[0] == 201
    assert (await call(middleware, request("/api/alerts/true")))[0] == 201  # a path parameter
    assert len(asked) == 2


async def test_a_custom_identity_resolver_is_asked_even_with_a_fixed_establishment() -> None:
    now = [OPEN]
    asked: list[int] = []

    def identity(scope: Any) -> Sender:
        asked.append(1)
        return ANONYMOUS

    middleware, _ = await primed(now, request(), identity=identity)
    asked.clear()
    assert (await call(middleware, request()))[0] == 201
    assert asked == [1]


async def test_a_custom_scheduler_for_keeps_no_exact_pass() -> None:
    CACHES.clear()
    national = schedulers(Policy.national())

    def scheduler_for(establishment: Establishment) -> Scheduler:
        return national(establishment)

    now = [OPEN]
    middleware, _ = gate(now, scheduler_for=scheduler_for)
    assert [(await call(middleware, request()))[0] for _ in range(2)] == [201, 201]
    assert CACHES.sizes()["exact passes"] == 0


async def test_clearing_the_caches_forgets_the_exact_passes() -> None:
    now = [OPEN]
    middleware, _ = await primed(now, request())
    CACHES.clear()
    assert CACHES.sizes()["exact passes"] == 0
    assert (await call(middleware, request()))[0] == 201
    assert CACHES.sizes()["exact passes"] == 1


async def test_exact_passes_are_bounded_by_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    table = CACHES.table("exact passes")
    monkeypatch.setattr(table, "_bound", 3)
    CACHES.clear()
    now = [OPEN]
    middleware, _ = gate(now)
    for i in range(6):
        assert (await call(middleware, request(query_string=b"i=%d" % i)))[0] == 201
    assert CACHES.sizes()["exact passes"] == 3


async def test_a_method_override_header_is_removed_from_every_request() -> None:
    now = [OPEN]
    CACHES.clear()
    middleware, ent = gate(now)
    overriding = request(extra=[(b"x-http-method-override", b"DELETE")])
    assert [(await call(middleware, overriding))[0] for _ in range(2)] == [201, 201]
    assert [b"x-http-method-override" in dict(h) for _, h, _ in ent.seen] == [False, False]


async def test_a_request_with_an_urgency_header_keeps_no_exact_pass() -> None:
    now = [OPEN]
    CACHES.clear()
    middleware, _ = gate(now)
    not_urgent = request("/api/alerts/false", extra=[(b"deconnexion-urgent", b"false")])
    assert (await call(middleware, not_urgent))[0] == 201
    assert CACHES.sizes()["exact passes"] == 0
