"""Held requests replayed into the application at release: once, with the idempotency key and
the original sender, past the gate; the example ENT app end to end in-process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _asgi_support import NEXT_MORNING, QUIET, Clock, fake_auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deconnexion.hold.queue import HoldQueue
from deconnexion.release.deliver import Delivery, PermanentDeliveryError
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import MemoryStore
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.replay import replay_deliverer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Ent:
    def __init__(self, status: int = 201) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status

        async def notify(request: Request) -> Response:
            user = request.scope.get("user")
            self.calls.append(
                {
                    "body": await request.json(),
                    "key": request.headers.get("idempotency-key"),
                    "query": request.url.query,
                    "user": getattr(user, "id", None),
                    "role": getattr(user, "role", None),
                }
            )
            return JSONResponse({}, status_code=self.status)

        self.api = Starlette(routes=[Route("/api/notifications", notify, methods=["POST"])])
        self.clock = Clock(QUIET)
        self.store = MemoryStore()
        self.gated = DeconnexionMiddleware(
            self.api,
            queue=HoldQueue(self.store),
            routes=[{"path": "/api/notifications", "audience": "body:audience"}],
            clock=self.clock,
        )
        self.worker = ReleaseWorker(
            self.store, replay_deliverer(self.gated, self.store), clock=self.clock
        )

    async def post(self, **kw: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=fake_auth(self.gated))
        async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
            return await c.post("/api/notifications?classe=3B", **kw)


async def test_held_post_reaches_the_app_once_after_the_release_instant() -> None:
    ent = Ent()
    r = await ent.post(
        json={"audience": "parents", "text": "Sortie"},
        headers={"Authorization": "prof", "Idempotency-Key": "sortie-3B"},
    )
    assert r.status_code == 202
    ent.clock.now = NEXT_MORNING - 1
    await ent.worker.run_once()
    assert ent.calls == []  # never early
    ent.clock.now = NEXT_MORNING + 1
    await ent.worker.run_once()
    await ent.worker.run_once()
    assert ent.calls == [
        {
            "body": {"audience": "parents", "text": "Sortie"},
            "key": "sortie-3B",
            "query": "classe=3B",
            "user": "m.martin",
            "role": "teacher",
        }
    ]
    [held] = ent.store.list("0750001A", ["released"])
    assert held.id == r.json()["id"]


async def test_a_refusing_app_dead_letters_the_message() -> None:
    ent = Ent(status=422)
    await ent.post(json={"audience": "parents"}, headers={"Authorization": "prof"})
    ent.clock.now = NEXT_MORNING + 1
    await ent.worker.run_once()
    assert len(ent.calls) == 1
    assert [h.state for h in ent.store.list("0750001A", None)] == ["dead"]


async def test_a_failing_app_is_retried() -> None:
    ent = Ent(status=503)
    await ent.post(json={"audience": "parents"}, headers={"Authorization": "prof"})
    ent.clock.now = NEXT_MORNING + 1
    await ent.worker.run_once()
    [held] = ent.store.list("0750001A", None)
    assert held.state == "held" and held.attempts == 1 and "HTTP 503" in (held.last_error or "")


async def test_a_message_not_held_by_the_gate_is_not_replayed() -> None:
    ent = Ent()
    deliver = replay_deliverer(ent.gated, ent.store)
    from datetime import UTC, datetime

    delivery = Delivery(
        idempotency_key="k",
        establishment="0750001A",
        recipients=(),
        payload=b"",
        content_type="application/json",
        release_at=datetime.now(UTC),
        ids=("missing",),
        kinds=("message",),
    )
    with pytest.raises(PermanentDeliveryError, match="not found"):
        await deliver(delivery)


async def test_example_ent_app_holds_then_replays() -> None:
    from examples import ent_app

    clock = Clock(QUIET)
    app = ent_app.create_app("memory://", clock=clock)
    ent_app.TIMELINE.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
        prof = {"Authorization": "Bearer token-prof"}
        chef = {"Authorization": "Bearer token-chef"}
        held = await c.post("/api/grades/12/publish", json={"audience": "parents"}, headers=prof)
        assert held.status_code == 202
        saved = await c.put("/api/grades/12", json={"note": 15}, headers=prof)
        assert saved.status_code == 200
        urgent = await c.post(
            "/api/messages",
            json={"audience": "parents", "text": "Collège fermé demain (neige)"},
            headers={
                **chef,
                "Deconnexion-Urgent": "true",
                "Deconnexion-Justification": "Alerte%20m%C3%A9t%C3%A9o",
            },
        )
        assert urgent.status_code == 201
        assert [e.get("message") for e in (await c.get("/api/timeline")).json()] == [
            "Collège fermé demain (neige)"
        ]
        listing = await c.get("/_deconnexion/held", headers=chef)
        assert [i["id"] for i in listing.json()["items"]] == [held.json()["id"]]
        # The grade goes out to parents 24 h after students (Wednesday 22:00 → Thursday 7:00).
        clock.now = app.state.store.get("0750001A", held.json()["id"]).release_at
        await app.state.worker.run_once()
        timeline = (await c.get("/api/timeline")).json()
    assert timeline[-1] == {"grades": "12", "for": "parents", "by": "m.martin"}


async def test_a_held_request_is_replayed_with_its_raw_path_and_query_byte_identical() -> None:
    seen: list[tuple[bytes, str, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["raw_path"], scope["path"], scope["query_string"]))
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    clock, store = Clock(QUIET), MemoryStore()
    gated = DeconnexionMiddleware(
        app,
        queue=HoldQueue(store),
        routes=[{"path": "/api/files/{name}/share", "audience": "students"}],
        clock=clock,
    )
    raw = b"/api/files/a%3Fb%23c%25d%252F%C3%A9/share"
    transport = httpx.ASGITransport(app=fake_auth(gated))
    async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
        r = await c.post(
            raw.decode() + "?x=%23&y=%25", content=b"{}", headers={"Authorization": "prof"}
        )
    assert r.status_code == 202, r.text
    clock.now = NEXT_MORNING + 1
    await ReleaseWorker(store, replay_deliverer(gated, store), clock=clock).run_once()
    assert seen == [(raw, "/api/files/a?b#c%d%2Fé/share", b"x=%23&y=%25")]
