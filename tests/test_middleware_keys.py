"""Through DeconnexionMiddleware: one sender's keys never touch another sender's message, an
anonymous caller's keys match nothing, and the default key only deduplicates a message that
is still waiting (the same reminder next week is delivered again)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _asgi_support import NEXT_MORNING, QUIET, Clock, fake_auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.tenant import fixed

pytestmark = pytest.mark.anyio

PARIS_SCHOOL = Establishment(uai="0750001A")
WEEK = 7 * 86_400
ROUTES = [
    {
        "path": "/api/notifications",
        "audience": "body:audience",
        "collapse_key": "body:topic",
    }
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gate:
    """The middleware over an application that accepts notifications; anonymous callers
    belong to the default establishment (as a gateway with `default_uai` does)."""

    def __init__(self) -> None:
        async def notify(request: Request) -> Response:
            return JSONResponse({"delivered": True}, status_code=201)

        app = Starlette(routes=[Route("/api/notifications", notify, methods=["POST"])])
        self.clock = Clock(QUIET)
        self.store = MemoryStore()
        middleware = DeconnexionMiddleware(
            app,
            queue=HoldQueue(self.store),
            routes=ROUTES,
            clock=self.clock,
            establishment=fixed(PARIS_SCHOOL),
        )
        self.app = fake_auth(middleware)

    async def post(self, who: str | None, body: dict[str, Any], **headers: str) -> Any:
        if who is not None:
            headers["Authorization"] = who
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
            r = await c.post("/api/notifications", json=body, headers=headers)
        assert r.status_code == 202, r.text
        return r.json()

    def state(self, message_id: str) -> str | None:
        found = self.store.get("0750001A", message_id)
        return None if found is None else found.state

    def deliver_due(self, now: float) -> None:
        due = self.store.claim_due(now, 100, 60, "worker")
        self.store.ack([m.id for m in due], "worker", now)


async def test_another_teacher_reusing_a_collapse_key_replaces_nothing() -> None:
    gate = Gate()
    mine = await gate.post("prof", {"audience": "parents", "topic": "sortie", "v": 1})
    theirs = await gate.post("chef", {"audience": "parents", "topic": "sortie", "v": 2})
    assert theirs["outcome"] == "held" and "replaced_id" not in theirs
    assert gate.state(mine["id"]) == "held"
    newer = await gate.post("prof", {"audience": "parents", "topic": "sortie", "v": 3})
    assert (newer["outcome"], newer["replaced_id"]) == ("replaced", mine["id"])


async def test_another_sender_sending_first_with_my_idempotency_key_suppresses_nothing() -> None:
    gate = Gate()
    first = await gate.post("chef", {"audience": "parents"}, **{"Idempotency-Key": "n-1"})
    mine = await gate.post("prof", {"audience": "parents"}, **{"Idempotency-Key": "n-1"})
    assert mine["outcome"] == "held"
    assert mine["id"] != first["id"]
    assert {gate.state(first["id"]), gate.state(mine["id"])} == {"held"}


async def test_an_anonymous_caller_never_replaces_pre_empts_or_learns_a_message() -> None:
    gate = Gate()
    t, u = {"audience": "parents", "topic": "t"}, {"audience": "parents", "topic": "u"}
    mine = await gate.post("prof", t, **{"Idempotency-Key": "k"})
    before = await gate.post(None, u, **{"Idempotency-Key": "j"})
    for body, key in ((t, "k"), (u, "j"), (u, "j")):
        answer = await gate.post(None, body, **{"Idempotency-Key": key})
        assert answer["outcome"] == "held"
        assert answer["id"] not in (mine["id"], before["id"])
        assert "replaced_id" not in answer
    assert gate.state(mine["id"]) == gate.state(before["id"]) == "held"
    again = await gate.post("prof", t, **{"Idempotency-Key": "k"})
    assert (again["outcome"], again["id"]) == ("duplicate", mine["id"])


async def test_the_same_reminder_next_week_is_a_new_message_not_a_duplicate() -> None:
    gate = Gate()
    reminder = {"audience": "parents", "text": "Rendez-vous parents-professeurs jeudi"}
    first = await gate.post("prof", reminder)
    retry = await gate.post("prof", reminder)  # the client did not see the 202: same message
    assert (retry["outcome"], retry["id"]) == ("duplicate", first["id"])
    gate.deliver_due(NEXT_MORNING)
    assert gate.state(first["id"]) == "released"
    gate.clock.now = QUIET + WEEK
    next_week = await gate.post("prof", reminder)
    assert next_week["outcome"] == "held"
    assert next_week["id"] != first["id"]
    assert next_week["idempotency_key"] == first["idempotency_key"]
    gate.deliver_due(NEXT_MORNING + WEEK)
    assert gate.state(next_week["id"]) == "released"
