"""`OpenPasses`: the open-window pass of a route decidable unread, remembered per
establishment. A remembered pass never lets through a request that a fresh judgement would
hold: it ends exactly where the open interval ends, the clock is read for every request, an
establishment's pass is never another's, and a custom `scheduler_for` is asked every time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from _asgi_support import OPEN, QUIET, Clock, fake_auth
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
from deconnexion.web.middleware import DeconnexionMiddleware, schedulers
from deconnexion.web.tenant import fixed, from_sender

pytestmark = pytest.mark.anyio

PARIS = ZoneInfo("Europe/Paris")
EIGHT_PM = QUIET - 2 * 3600  # Tuesday 4 November 2025, 20:00 in Paris
# Monday 16 February 2026, 10:00: zone C (Paris) at school, zone B (Strasbourg) on holiday.
WINTER_BREAK_B = datetime(2026, 2, 16, 10, 0, tzinfo=PARIS).timestamp()
UNREAD = [{"path": "/api/notifications", "kind": "message", "audience": "body:audience"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gated:
    def __init__(self, now: float, **options: Any) -> None:
        self.clock = Clock(now)
        self.reached: list[bytes] = []

        async def notify(request: Request) -> Response:
            self.reached.append(await request.body())
            return JSONResponse({"sent": True}, status_code=201)

        options.setdefault("establishment", fixed(Establishment(uai="0750001A")))
        self.middleware = DeconnexionMiddleware(
            Starlette(routes=[Route("/api/notifications", notify, methods=["POST"])]),
            queue=HoldQueue(MemoryStore()),
            routes=UNREAD,
            clock=self.clock,
            **options,
        )

    async def post(self, user: str = "") -> int:
        transport = httpx.ASGITransport(app=fake_auth(self.middleware))
        async with httpx.AsyncClient(transport=transport, base_url="http://ent") as client:
            response = await client.post(
                "/api/notifications",
                json={"audience": "parents"},
                headers={"Authorization": user} if user else {},
            )
        return response.status_code


async def test_a_remembered_pass_ends_exactly_at_the_window_end() -> None:
    CACHES.clear()
    g = Gated(EIGHT_PM - 1)
    assert [await g.post(), await g.post()] == [201, 201]  # the second from the pass
    assert CACHES.sizes()["open passes"] == 1
    g.clock.now = EIGHT_PM
    assert await g.post() == 202
    g.clock.now = EIGHT_PM - 0.001  # the clock is read again: open again
    assert await g.post() == 201


async def test_a_remembered_pass_is_not_used_before_the_window_starts() -> None:
    CACHES.clear()
    g = Gated(OPEN)
    assert await g.post() == 201
    g.clock.now = datetime(2025, 11, 4, 6, 59, 59, tzinfo=PARIS).timestamp()
    assert await g.post() == 202


async def test_one_establishment_s_pass_is_never_another_s() -> None:
    CACHES.clear()
    g = Gated(WINTER_BREAK_B, establishment=from_sender())
    assert await g.post("prof") == 201  # Paris, zone C: at school
    assert await g.post("prof-strasbourg") == 202  # Strasbourg, zone B: on holiday
    assert await g.post("prof") == 201


async def test_clearing_the_caches_forgets_the_passes() -> None:
    CACHES.clear()
    g = Gated(OPEN)
    assert await g.post() == 201
    assert CACHES.sizes()["open passes"] == 1
    CACHES.clear()
    assert CACHES.sizes()["open passes"] == 0
    assert await g.post() == 201


async def test_a_custom_scheduler_for_is_asked_on_every_request() -> None:
    CACHES.clear()
    national = schedulers(Policy.national())
    asked: list[Establishment] = []

    def scheduler_for(establishment: Establishment) -> Scheduler:
        asked.append(establishment)
        return national(establishment)

    g = Gated(OPEN, scheduler_for=scheduler_for)
    assert [await g.post(), await g.post(), await g.post()] == [201, 201, 201]
    assert len(asked) == 3
    assert CACHES.sizes()["open passes"] == 0
