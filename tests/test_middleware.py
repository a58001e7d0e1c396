"""DeconnexionMiddleware: reads and data entry untouched, diffusion held in quiet windows,
urgent overrides only for the authenticated head of establishment."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from _asgi_support import NEXT_MORNING, OPEN, QUIET, USERS, Clock, fake_auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deconnexion.core.message import SenderRole
from deconnexion.core.territories import Establishment
from deconnexion.errors import StoreError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.identity import Sender
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.replay import REPLAY_KEY, Replay
from deconnexion.web.tenant import fixed, from_sender

pytestmark = pytest.mark.anyio

PARIS_SCHOOL = Establishment(uai="0750001A")
BINARY = bytes(range(256)) * 40
GATED = [
    {"path": "/api/notifications", "audience": "body:audience", "kind": ["body:kind", "message"]},
    {"path": "/api/grades/{id}/publish", "kind": "grade", "audience": "body:audience"},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Upstream:
    """The wrapped application, recording what reached it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

        async def notify(request: Request) -> Response:
            body = await request.body()
            user = request.scope.get("user")
            self.seen.append(
                {
                    "path": request.url.path,
                    "body": body,
                    "headers": dict(request.headers),
                    "user": getattr(user, "id", None),
                }
            )
            return JSONResponse({"delivered": True}, status_code=201)

        async def stream(request: Request) -> Response:
            async def chunks() -> AsyncIterator[bytes]:
                for i in range(3):
                    yield f"chunk{i};".encode()

            return StreamingResponse(chunks(), media_type="text/plain")

        async def binary(request: Request) -> Response:
            return Response(BINARY, media_type="application/octet-stream")

        async def save(request: Request) -> Response:
            return JSONResponse({"saved": (await request.json())})

        self.app = Starlette(
            routes=[
                Route("/api/notifications", notify, methods=["POST"]),
                Route("/api/grades/{id}/publish", notify, methods=["POST"]),
                Route("/api/grades/{id}", save, methods=["PUT"]),
                Route("/api/stream", stream, methods=["GET", "POST"]),
                Route("/api/file", binary),
            ]
        )


class Setup:
    def __init__(self, now: float = QUIET, **options: Any) -> None:
        self.clock = Clock(now)
        self.store = MemoryStore()
        self.queue = HoldQueue(self.store)
        self.upstream = Upstream()
        options.setdefault("establishment", from_sender(PARIS_SCHOOL))
        self.middleware = DeconnexionMiddleware(
            self.upstream.app,
            queue=self.queue,
            routes=options.pop("routes", GATED),
            clock=self.clock,
            **options,
        )
        self.app = fake_auth(self.middleware)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://ent")

    def held(self) -> list[Any]:
        return self.store.list("0750001A", ["held"])

    def audit(self) -> list[str]:
        return [e.action for e in self.store.audit("0750001A")]


# -- quiet window: diffusion is held ---------------------------------------------------------


async def test_quiet_post_is_held_and_answered_202_with_the_release_instant() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents", "text": "Sortie"})
    assert r.status_code == 202
    body = r.json()
    assert body["held"] is True
    assert body["release_at"] == "2025-11-05T07:00:00+01:00"
    assert r.headers["deconnexion-release-at"] == "2025-11-05T07:00:00+01:00"
    assert [x["code"] for x in body["reasons"]] == ["night"]
    assert "mercredi 5 novembre à 7 h" in body["explanation_fr"]
    assert s.upstream.seen == []
    [held] = s.held()
    assert held.id == body["id"]
    assert held.release_at == NEXT_MORNING
    assert json.loads(held.payload) == {"audience": "parents", "text": "Sortie"}
    assert held.meta["http"]["method"] == "POST"
    assert held.meta["http"]["path"] == "/api/notifications"


async def test_query_and_allow_listed_headers_are_kept_credentials_are_not() -> None:
    s = Setup()
    async with s.client() as c:
        await c.post(
            "/api/notifications?classe=3B",
            json={"audience": "students"},
            headers={"Authorization": "prof", "X-Request-Id": "r-1", "Cookie": "s=1"},
        )
    [held] = s.held()
    names = {k for k, _ in held.meta["http"]["headers"]}
    assert held.meta["http"]["query"] == "classe=3B"
    assert "x-request-id" in names
    assert not names & {"authorization", "cookie"}
    assert held.meta["sender"]["id"] == "m.martin"


async def test_same_idempotency_key_twice_is_held_once() -> None:
    s = Setup()
    async with s.client() as c:
        headers = {"Idempotency-Key": "n-1", "Authorization": "prof"}
        first = await c.post("/api/notifications", json={"audience": "parents"}, headers=headers)
        again = await c.post("/api/notifications", json={"audience": "parents"}, headers=headers)
    assert first.json()["id"] == again.json()["id"]
    assert again.json()["outcome"] == "duplicate"
    assert len(s.held()) == 1


async def test_a_request_for_two_audiences_waits_for_the_later_one() -> None:
    s = Setup(now=OPEN)
    async with s.client() as c:
        r = await c.post(
            "/api/grades/7/publish",
            json={"audience": ["students", "parents"]},
            headers={"Authorization": "prof"},
        )
    assert r.status_code == 202  # parents see grades 24 h after students
    assert "grade_parent_delay" in [x["code"] for x in r.json()["reasons"]]


# -- never gated: reads, data entry, other protocols -----------------------------------------


async def test_get_passes_byte_identical_in_a_quiet_window() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.get("/api/file")
    assert r.status_code == 200
    assert r.content == BINARY
    assert s.held() == []


async def test_put_data_entry_passes_in_a_quiet_window() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.put("/api/grades/7", json={"note": 14}, headers={"Authorization": "prof"})
    assert r.status_code == 200
    assert r.json() == {"saved": {"note": 14}}
    assert s.held() == []


async def test_non_gated_requests_get_the_very_same_receive_and_send() -> None:
    seen: list[tuple[Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((receive, send))

    mw = DeconnexionMiddleware(app, queue=HoldQueue(MemoryStore()), routes=GATED)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        pass

    for scope in (
        {"type": "http", "method": "GET", "path": "/api/notifications", "headers": []},
        {"type": "http", "method": "POST", "path": "/api/other", "headers": []},
        {"type": "websocket", "path": "/api/notifications", "headers": []},
        {"type": "lifespan"},
    ):
        await mw(scope, receive, send)
    assert seen == [(receive, send)] * 4


async def test_streaming_response_of_a_gated_open_route_stays_chunked() -> None:
    s = Setup(now=OPEN, routes=[{"path": "/api/stream", "audience": "students"}])
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await anyio.sleep_forever()  # the client stays connected
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/stream",
        "headers": [],
        "query_string": b"",
        "root_path": "",
    }
    await s.middleware(scope, receive, send)
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert bodies == [b"chunk0;", b"chunk1;", b"chunk2;"]


# -- open window: diffusion passes with its body ---------------------------------------------


async def test_open_window_passes_with_the_body_intact() -> None:
    s = Setup(now=OPEN)
    payload = {"audience": "parents", "text": "Réunion parents-professeurs"}
    async with s.client() as c:
        r = await c.post("/api/notifications", json=payload, headers={"Authorization": "prof"})
    assert r.status_code == 201
    assert json.loads(s.upstream.seen[0]["body"]) == payload
    assert s.held() == []


# -- urgency ---------------------------------------------------------------------------------

URGENT = {"Deconnexion-Urgent": "true", "Deconnexion-Justification": "Fermeture%20neige"}


async def test_forged_urgent_headers_from_an_anonymous_sender_stay_held() -> None:
    s = Setup()
    headers = {**URGENT, "X-Role": "chef_etablissement", "Deconnexion-Sender": "x;chef;1;2;3"}
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents"}, headers=headers)
    assert r.status_code == 202
    assert "urgent_refused" in [x["code"] for x in r.json()["reasons"]]
    assert s.upstream.seen == []
    assert "urgent_refused" in s.audit()


async def test_teacher_urgent_is_held_and_the_refusal_audited() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={**URGENT, "Authorization": "prof"},
        )
    assert r.status_code == 202
    assert "urgent_refused" in [x["code"] for x in r.json()["reasons"]]
    assert "urgent_refused" in s.audit()


async def test_authenticated_chef_urgent_with_justification_passes_and_is_audited() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents", "text": "École fermée demain"},
            headers={**URGENT, "Authorization": "chef"},
        )
    assert r.status_code == 201
    assert s.upstream.seen[0]["user"] == "mme.durand"
    assert s.held() == []
    assert "urgent_override" in s.audit()


async def test_chef_urgent_without_justification_is_held() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Deconnexion-Urgent": "1", "Authorization": "chef"},
        )
    assert r.status_code == 202
    assert "urgent_refused" in [x["code"] for x in r.json()["reasons"]]


async def test_chef_of_another_establishment_cannot_override_here() -> None:
    s = Setup(establishment=fixed(PARIS_SCHOOL))
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={**URGENT, "Authorization": "chef-strasbourg"},
        )
    assert r.status_code == 202
    assert s.upstream.seen == []


# -- bad input: clear answers, nothing stored ------------------------------------------------


async def test_body_over_the_limit_is_413_and_nothing_is_stored() -> None:
    s = Setup(max_body=100)
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents", "t": "x" * 200})
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"
    assert s.held() == []


async def test_chunked_body_over_the_limit_is_413() -> None:
    s = Setup(max_body=100)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b'{"audience": "parents"}' * 2

    async with s.client() as c:
        r = await c.post("/api/notifications", content=chunks())
    assert r.status_code == 413
    assert s.held() == []


async def test_malformed_json_is_400_naming_the_problem() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post("/api/notifications", content=b'{"audience": ')
    assert r.status_code == 400
    assert "malformed JSON at line 1" in r.json()["message"]
    assert s.held() == []


async def test_bad_audience_is_400_with_the_value_and_the_accepted_ones() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "voisins"})
    assert r.status_code == 400
    assert "'voisins'" in r.json()["message"]
    assert "students, parents, staff" in r.json()["message"]


async def test_unknown_establishment_is_400_not_a_pass() -> None:
    s = Setup(establishment=from_sender())
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents"})
    assert r.status_code == 400
    assert r.json()["error"] == "establishment_unknown"
    assert s.upstream.seen == []


async def test_store_failure_is_503_and_the_request_is_not_passed() -> None:
    s = Setup()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk full")

    s.store.insert_many = broken  # type: ignore[method-assign]
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents"})
    assert r.status_code == 503
    assert "disk full" in r.json()["message"]
    assert s.upstream.seen == []


async def test_client_disconnect_while_sending_the_body_stores_nothing() -> None:
    s = Setup()
    messages = [
        {"type": "http.request", "body": b'{"audience":', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/notifications", "headers": []}
    await s.middleware(scope, receive, send)
    assert sent == [] and s.held() == []


# -- the replay bypass -----------------------------------------------------------------------


async def test_replay_marker_in_the_scope_passes_with_the_original_sender() -> None:
    s = Setup()
    sender = Sender("m.martin", SenderRole.TEACHER, "0750001A", True)
    body = b'{"audience": "parents"}'

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/notifications",
        "headers": [],
        "query_string": b"",
        "root_path": "",
        REPLAY_KEY: Replay("id1", sender),
    }
    await s.middleware(scope, receive, send)
    assert s.upstream.seen[0]["user"] == "m.martin"
    assert s.held() == []


async def test_a_replay_header_does_not_bypass_the_gate() -> None:
    s = Setup()
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"deconnexion.replay": "1", "Deconnexion-Replay": "1"},
        )
    assert r.status_code == 202


# -- fast paths ------------------------------------------------------------------------------


async def test_the_open_span_ends_at_20h_sharp() -> None:
    s = Setup(now=QUIET - 2 * 3600 - 1)  # 19:59:59
    async with s.client() as c:
        first = await c.post(
            "/api/notifications", json={"audience": "parents"}, headers={"Authorization": "prof"}
        )
        s.clock.now = QUIET - 2 * 3600  # 20:00:00
        second = await c.post(
            "/api/notifications", json={"audience": "parents"}, headers={"Authorization": "prof"}
        )
    assert (first.status_code, second.status_code) == (201, 202)


@pytest.mark.parametrize(
    ("kind", "streamed"),
    # a kind read from the body may be a grade, which parents see 24 h later: read it
    [("message", True), (["body:kind", "message"], False)],
)
async def test_open_window_streams_the_body_of_a_route_decidable_unread(
    kind: object, streamed: bool
) -> None:
    routes = [{"path": "/api/notifications", "audience": "body:audience", "kind": kind}]
    s = Setup(now=OPEN, routes=routes)
    chunks_seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            chunks_seen.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    s.middleware.app = app
    parts = [b'{"audience":', b' "parents",', b' "text": "x"}']
    incoming = [
        {"type": "http.request", "body": part, "more_body": i < 2} for i, part in enumerate(parts)
    ]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/notifications",
        "headers": [],
        "query_string": b"",
        "root_path": "",
        "user": USERS["prof"],
    }
    await s.middleware(scope, receive, send)
    assert sent[0]["status"] == 201
    assert chunks_seen[:3] == (parts if streamed else [b"".join(parts)])


async def test_a_grade_that_may_go_to_parents_is_read_even_in_an_open_window() -> None:
    s = Setup(now=OPEN)
    async with s.client() as c:
        r = await c.post(
            "/api/grades/3/publish", json={"audience": "parents"}, headers={"Authorization": "prof"}
        )
    assert r.status_code == 202  # parents: 24 h after the students
    assert r.json()["reasons"][0]["code"] == "grade_parent_delay"


async def test_declared_body_over_the_limit_is_413_even_in_an_open_window() -> None:
    s = Setup(now=OPEN, max_body=10)
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents", "text": "long"})
    assert r.status_code == 413


async def test_urgent_header_in_an_open_window_is_decided_not_waved_through() -> None:
    s = Setup(now=OPEN)
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={"Deconnexion-Urgent": "maybe", "Authorization": "prof"},
        )
    assert r.status_code == 400
    assert "yes/no" in r.json()["message"]


async def test_an_unauthenticated_sender_claiming_a_head_role_stays_held() -> None:
    def claims(scope: Any) -> Sender:  # a careless resolver: role without authentication
        return Sender("x", SenderRole.CHEF_ETABLISSEMENT, "0750001A", authenticated=False)

    s = Setup(identity=claims, establishment=fixed(PARIS_SCHOOL))
    async with s.client() as c:
        r = await c.post("/api/notifications", json={"audience": "parents"}, headers=URGENT)
    assert r.status_code == 202
    assert "urgent_refused" in [x["code"] for x in r.json()["reasons"]]
