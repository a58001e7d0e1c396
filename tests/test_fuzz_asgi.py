"""Generated bad input on the gated routes and the admin API: never a 500, no held message
lost, nothing of another establishment touched."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
from _asgi_support import OPEN, QUIET, USERS, Clock, fake_auth
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deconnexion.hold.queue import HoldQueue
from deconnexion.store.sqlite import SQLiteStore
from deconnexion.web.admin import admin_app
from deconnexion.web.middleware import DeconnexionMiddleware

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
audiences = (
    st.sampled_from(["students", "parents", "staff", "all", "élèves", "", "x"]) | json_values
)
valid = st.fixed_dictionaries(
    {"audience": st.sampled_from(["students", "parents", "staff", ["students", "parents"]])},
    optional={
        "kind": st.sampled_from(["grade", "message", "devoir"]),
        "recipients": st.lists(printable, max_size=3),
        "text": st.text(max_size=30),
    },
).map(lambda v: json.dumps(v).encode())
mangled = st.fixed_dictionaries(
    {"audience": audiences},
    optional={
        "kind": st.sampled_from(["grade", "message", "devoir", "?"]) | json_values,
        "recipients": json_values,
        "urgent": json_values,
        "publish_to_students_at": json_values | printable,
    },
).map(lambda v: json.dumps(v).encode())
# JSON text json.dumps cannot write: what an attacker sends by hand
hostile_values = st.sampled_from(
    [
        b'"\\ud800"',  # a lone surrogate, as a JSON escape
        b'["ok", "\\udfff"]',
        b'"a\\u0000b"',  # NUL
        b'["\\u0000"]',
        b'"\\u200b"',  # zero-width space
        b'"\\u202e0750001A"',  # bidi override
        b'"a\\nb"',
        b"1e999",  # a float beyond double: inf
        b"-1e400",
        b"1" + b"0" * 400 + b".5",
        b"[" * 3000 + b"]" * 3000,  # deep nesting
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'"\xff\xfe"',  # invalid UTF-8
        b"NaN",
        b"-Infinity",
    ]
) | st.integers(4301, 5000).map(lambda n: b"9" * n)  # over Python's int digits limit
hostile = st.builds(
    lambda field, value, audience: (
        b'{"audience": ' + audience + b', "' + field.encode() + b'": ' + value + b"}"
    ),
    st.sampled_from(["kind", "recipients", "urgent", "publish_to_students_at", "text", "x"]),
    hostile_values,
    st.sampled_from([b'"parents"', b'"students"']) | hostile_values,
)
bodies = st.one_of(
    valid,
    valid,
    mangled,
    hostile,
    hostile,
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
)
headers = st.fixed_dictionaries(
    {"Authorization": st.sampled_from([*USERS, *USERS, "nobody", ""])},
    optional={
        "Deconnexion-Urgent": st.sampled_from(["true", "oui", "1", "false"]) | printable,
        "Deconnexion-Justification": printable
        | st.sampled_from(["%00", "%E2%80%8B", ".", "%ED%A0%80", "Alerte%20m%C3%A9t%C3%A9o"]),
        "Idempotency-Key": printable,
        "Deconnexion-Sender": printable,
        "Content-Type": st.sampled_from(["application/json", "text/plain", "x/y"]),
    },
)


class Client:
    """A synchronous face on httpx's ASGI transport (hypothesis tests are synchronous)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
                return await c.request(method, path, **kw)

        return anyio.run(call)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


def build() -> tuple[Client, SQLiteStore, Clock]:
    async def notify(request: Request) -> Response:
        await request.body()
        return JSONResponse({}, status_code=201)

    api = Starlette(
        routes=[
            Route("/api/notifications", notify, methods=["POST"]),
            Route("/api/grades/{id}/publish", notify, methods=["POST"]),
        ]
    )
    # SQLite, not memory: a lone surrogate that reached it would fail the write (a 500)
    store = SQLiteStore(Path(tempfile.mkdtemp(prefix="deconnexion-fuzz-")) / "held.db")
    clock = Clock(QUIET)
    gated = DeconnexionMiddleware(
        api,
        queue=HoldQueue(store),
        routes=[
            {
                "path": "/api/notifications",
                "audience": "body:audience",
                "kind": ["body:kind", "message"],
                "recipients": "body:recipients",
            },
            {
                "path": "/api/grades/{id}/publish",
                "kind": "grade",
                "audience": "body:audience",
                "publish_to_students_at": "body:publish_to_students_at",
                "collapse_key": "path:id",
            },
        ],
        max_body=20_000,
        clock=clock,
    )
    app = Starlette(routes=[])
    app.mount("/_deconnexion", admin_app(store, clock=clock))
    app.mount("/", gated)
    return Client(fake_auth(app)), store, clock


CLIENT, STORE, CLOCK = build()
HELD: dict[str, str] = {}  # id → establishment, every 202 answered so far


@FUZZ
@given(
    path=st.sampled_from(["/api/notifications", "/api/grades/7/publish"])
    | printable.map(lambda p: f"/api/grades/{p.replace('/', '').replace('?', '') or 'x'}/publish"),
    body=bodies,
    head=headers,
    quiet=st.booleans(),
)
def test_gated_routes_never_500_and_every_202_is_stored(
    path: str, body: bytes, head: dict[str, str], quiet: bool
) -> None:
    CLOCK.now = QUIET if quiet else OPEN
    r = CLIENT.post(path, content=body, headers=head)
    event(f"status {r.status_code}")
    assert r.status_code in (201, 202, 400, 404, 413), (r.status_code, r.text)
    if r.status_code == 202:
        held_id = r.json()["id"]
        where = USERS[head["Authorization"]].uai or ""  # anonymous senders have no tenant: 400
        found = STORE.get(where, held_id)
        assert found is not None and found.payload  # the request, not half of it
        HELD[held_id] = where
    if r.status_code in (400, 413):
        assert r.json()["message"]


ADMIN_CALLS = [
    ("GET", "/held"),
    ("GET", "/held/{id}"),
    ("DELETE", "/held/{id}"),
    ("POST", "/held/{id}/cancel"),
    ("POST", "/held/{id}/release"),
    ("GET", "/stats"),
    ("GET", "/audit"),
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
]
admin_calls = st.sampled_from(ADMIN_CALLS) | st.tuples(
    st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
    st.sampled_from([p for _, p in ADMIN_CALLS] + ["/nothing", ""]),
)


hostile_params = st.sampled_from(
    ["\x00", "a\x00b", "\u200b", "\u202e", "9" * 5000, "1e999", "-1e400", "nan", "\ud7ff"]
)


@FUZZ
@given(
    call=admin_calls,
    some_id=printable | hostile_params,
    use_known=st.booleans(),
    query=st.dictionaries(
        st.sampled_from(["limit", "offset", "state", "since", "message_id"]),
        printable | hostile_params,
        max_size=3,
    ),
    who=st.sampled_from([*USERS, *USERS, None]),
)
def test_admin_never_500_and_never_crosses_establishments(
    call: tuple[str, str],
    some_id: str,
    use_known: bool,
    query: dict[str, str],
    who: str | None,
) -> None:
    CLOCK.now = QUIET
    if not HELD:
        CLIENT.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Authorization": "prof-strasbourg", "Idempotency-Key": "seed"},
        )
        for item in STORE.list("0671234X", None):
            HELD[item.id] = "0671234X"
    method, template = call
    target = sorted(HELD)[len(some_id) % len(HELD)] if use_known and HELD else some_id
    before = {i: _state(i, e) for i, e in HELD.items()}
    path = "/_deconnexion" + template.replace("{id}", quote(target, safe="") or "x")
    headers: dict[str, Any] = {"Authorization": who} if who else {}
    r = CLIENT.request(method, path, params=query, headers=headers)
    event(f"status {r.status_code}")
    assert r.status_code < 500, (r.status_code, r.text)
    for held_id, where in HELD.items():
        after = _state(held_id, where)
        assert after is not None, f"held message {held_id} lost"
        caller = USERS.get(who or "")
        if caller is None or caller.uai != where:
            assert after == before[held_id], "a caller changed another establishment's message"


def _state(held_id: str, where: str) -> str | None:
    found = STORE.get(where, held_id)
    return None if found is None else found.state
