"""Admin API: one establishment per caller (404 for the others'), heads release and audit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from _asgi_support import NEXT_MORNING, QUIET, Clock, fake_auth

from deconnexion.core.message import Audience, Kind, Message, SenderRole
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.admin import admin_app

pytestmark = pytest.mark.anyio

PARIS = Establishment(uai="0750001A")
STRASBOURG = Establishment(uai="0671234X")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def hold(queue: HoldQueue, where: Establishment, actor: str, key: str) -> str:
    message = Message(
        kind=Kind.MESSAGE,
        audience=Audience.PARENTS,
        created_at=datetime.fromtimestamp(QUIET).astimezone(),
        sender_role=SenderRole.TEACHER,
    )
    decision = Scheduler(None, where).decide(message)
    result = queue.hold(
        establishment=where,
        message=message,
        decision=decision,
        payload=b'{"text": "x"}',
        recipients=(),
        idempotency_key=key,
        collapse_key=None,
        actor=actor,
        content_type="application/json",
        meta={"http": {"method": "POST", "path": "/api/messages"}},
    )
    return str(result.id)


class Setup:
    def __init__(self) -> None:
        self.clock = Clock(QUIET + 60)
        self.store = MemoryStore()
        queue = HoldQueue(self.store)
        self.paris_prof = hold(queue, PARIS, "m.martin", "k1")
        self.paris_other = hold(queue, PARIS, "someone.else", "k2")
        self.strasbourg = hold(queue, STRASBOURG, "mme.weber", "k3")
        self.app = fake_auth(admin_app(self.store, clock=self.clock))

    async def call(self, method: str, path: str, user: str | None = None) -> httpx.Response:
        headers = {"Authorization": user} if user else {}
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
            return await c.request(method, path, headers=headers)

    def state(self, where: Establishment, held_id: str) -> str:
        found = self.store.get(where.key, held_id)
        assert found is not None
        return found.state


async def test_head_lists_every_held_message_of_her_establishment_only() -> None:
    s = Setup()
    r = await s.call("GET", "/held", "chef")
    assert r.status_code == 200
    ids = {item["id"] for item in r.json()["items"]}
    assert ids == {s.paris_prof, s.paris_other}
    assert r.json()["items"][0]["release_at"] == "2025-11-05T07:00:00+01:00"


async def test_teacher_lists_only_his_own_messages() -> None:
    s = Setup()
    r = await s.call("GET", "/held", "prof")
    assert [item["id"] for item in r.json()["items"]] == [s.paris_prof]


async def test_another_establishments_message_is_404_for_every_action() -> None:
    s = Setup()
    for method, path in [
        ("GET", f"/held/{s.strasbourg}"),
        ("POST", f"/held/{s.strasbourg}/cancel"),
        ("DELETE", f"/held/{s.strasbourg}"),
        ("POST", f"/held/{s.strasbourg}/release"),
    ]:
        r = await s.call(method, path, "chef")
        assert r.status_code == 404, (method, path, r.text)
    assert s.state(STRASBOURG, s.strasbourg) == "held"


async def test_sender_cancels_his_message_then_it_is_409() -> None:
    s = Setup()
    r = await s.call("POST", f"/held/{s.paris_prof}/cancel", "prof")
    assert r.status_code == 200
    assert s.state(PARIS, s.paris_prof) == "cancelled"
    again = await s.call("DELETE", f"/held/{s.paris_prof}", "prof")
    assert again.status_code == 409


async def test_teacher_cannot_cancel_a_colleagues_message() -> None:
    s = Setup()
    r = await s.call("POST", f"/held/{s.paris_other}/cancel", "prof")
    assert r.status_code == 404
    assert s.state(PARIS, s.paris_other) == "held"


async def test_release_now_is_for_the_head_only() -> None:
    s = Setup()
    r = await s.call("POST", f"/held/{s.paris_prof}/release", "prof")
    assert r.status_code == 403
    found = s.store.get("0750001A", s.paris_prof)
    assert found is not None and found.release_at == NEXT_MORNING
    r = await s.call("POST", f"/held/{s.paris_prof}/release", "chef")
    assert r.status_code == 200
    found = s.store.get("0750001A", s.paris_prof)
    assert found is not None and found.release_at == s.clock.now


async def test_audit_is_for_the_head_and_shows_her_actions() -> None:
    s = Setup()
    await s.call("POST", f"/held/{s.paris_prof}/release", "chef")
    assert (await s.call("GET", "/audit", "prof")).status_code == 403
    r = await s.call("GET", "/audit", "chef")
    assert r.status_code == 200
    actions = [(e["action"], e["actor"]) for e in r.json()["items"]]
    assert ("release_now", "mme.durand") in actions
    assert all(e["message_id"] != s.strasbourg for e in r.json()["items"])


async def test_stats_count_one_establishment() -> None:
    s = Setup()
    r = await s.call("GET", "/stats", "prof-strasbourg")
    assert r.status_code == 200
    assert r.json()["held"] == 1
    assert r.json()["by_reason"] == {"night": 1}


async def test_unauthenticated_callers_get_401() -> None:
    s = Setup()
    for path in ("/held", "/stats", "/audit", f"/held/{s.paris_prof}"):
        r = await s.call("GET", path)
        assert r.status_code == 401
        assert r.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=abc", "limit=100000", "offset=-1", "state=lost", "state=held,x"]
)
async def test_bad_parameters_are_400_naming_them(query: str) -> None:
    s = Setup()
    r = await s.call("GET", f"/held?{query}", "chef")
    assert r.status_code == 400
    assert query.split("=")[0] in r.json()["message"]


async def test_health_metrics_and_openapi() -> None:
    s = Setup()
    assert (await s.call("GET", "/health")).json() == {"status": "ok", "worker": None}
    assert (await s.call("GET", "/metrics")).status_code == 401  # see test_head_rights.py
    metrics = (await s.call("GET", "/metrics", "chef")).text  # her establishment's two
    assert "deconnexion_held_messages 2" in metrics
    assert 'deconnexion_held_by_reason{reason="night"} 2' in metrics
    assert "deconnexion_oldest_held_age_seconds 60.000" in metrics
    spec: dict[str, Any] = (await s.call("GET", "/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/held/{id}/release" in spec["paths"]
    json.dumps(spec)
