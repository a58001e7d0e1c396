"""Messages that lose their meaning: a held message past its `expires_at` is never delivered
but "expired" (audited, counted), on every store, in the queue, the worker and the gate."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from _asgi_support import Clock, fake_auth
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_store_conformance import EST, T0, msg, put

from deconnexion.core.message import Message
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import NaiveDatetimeError, PolicyError
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import HoldResult
from deconnexion.metrics import prometheus_text
from deconnexion.release.deliver import Delivery
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import MemoryStore
from deconnexion.store.base import HoldStore
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.tenant import fixed

PARIS = ZoneInfo("Europe/Paris")
SCHOOL = Establishment(uai="0750001A")
FRIDAY_21H = datetime(2025, 11, 7, 21, 0, tzinfo=PARIS)  # held until Monday 07:00
TIMETABLE_12H = Policy.from_mapping({"name": "edt", "expires_after": {"timetable": "12h"}})


def state_of(store: HoldStore, message_id: str) -> str | None:
    found = store.get(EST, message_id)
    return None if found is None else found.state


# -- every store -----------------------------------------------------------------------------------


def test_a_message_released_after_it_expires_is_stored_expired_never_claimed(
    store: HoldStore,
) -> None:
    late = msg("late", release_at=T0, expires_at=T0 - 1)
    fresh = msg("fresh", release_at=T0, expires_at=T0 + 3600)
    outcomes = store.insert_many([late, fresh], now=T0 - 36_000)
    assert [(o.outcome, o.state) for o in outcomes] == [("expired", "expired"), ("held", "held")]
    assert [m.id for m in store.claim_due(T0 + 10, 10, 30, "w")] == [fresh.id]
    actions = [(e.action, e.detail) for e in store.audit(EST, message_id=late.id)]
    assert ("expire", {"expires_at": T0 - 1, "release_at": T0}) in actions
    stats = store.stats(EST)
    assert stats.by_state == {"claimed": 1, "expired": 1} and stats.held == 0
    assert 'deconnexion_messages{state="expired"} 1' in prometheus_text(stats, T0)


def test_an_expired_message_neither_replaces_nor_keeps_its_key(store: HoldStore) -> None:
    (held,) = put(store, msg("k", collapse_key="edt"))
    (outcome,) = store.insert_many(
        [msg("k2", collapse_key="edt", expires_at=T0 - 60)], now=T0 - 100
    )
    assert (outcome.outcome, outcome.replaced_id) == ("expired", None)
    assert state_of(store, held) == "held"
    (gone,) = store.insert_many([msg("e", expires_at=T0 - 60)], now=T0 - 100)
    (again,) = store.insert_many([msg("e")], now=T0 - 90)
    assert (gone.outcome, again.outcome) == ("expired", "held")


def test_a_worker_claiming_after_expiry_expires_instead_of_delivering(store: HoldStore) -> None:
    (mid,) = put(store, msg("a", release_at=T0, expires_at=T0 + 60))
    store.claim_due(T0 + 120, 10, 30, "w")
    assert store.expire([mid], "other", T0 + 120) == 0  # not its claim
    assert store.expire([mid], "w", T0 + 120) == 1
    assert state_of(store, mid) == "expired"
    assert store.ack([mid], "w", T0 + 121) == 0
    assert [e.action for e in store.audit(EST, message_id=mid)] == ["hold", "expire"]


def test_a_claimed_message_is_not_expired_before_its_time(store: HoldStore) -> None:
    (mid,) = put(store, msg("a", release_at=T0, expires_at=T0 + 60))
    (never,) = put(store, msg("b", release_at=T0))
    store.claim_due(T0, 10, 30, "w")
    assert store.expire([mid, never], "w", T0 + 30) == 0
    assert {state_of(store, mid), state_of(store, never)} == {"claimed"}


def test_a_reschedule_past_expiry_expires_the_message(store: HoldStore) -> None:
    a, b = put(store, msg("a", expires_at=T0 + 3600), msg("b", expires_at=T0 + 3600))
    changed = store.reschedule(
        EST, lambda m: T0 + 7200 if m.id == a else T0 + 60, actor="ops", now=T0 - 10
    )
    assert changed == 2
    assert (state_of(store, a), state_of(store, b)) == ("expired", "held")
    assert [e.action for e in store.audit(EST, message_id=a)] == ["hold", "reschedule", "expire"]
    assert [m.id for m in store.claim_due(T0 + 7200, 10, 30, "w")] == [b]


# -- the queue and the policy ----------------------------------------------------------------------


def timetable_change(
    queue: HoldQueue, policy: Policy, expires_at: datetime | None = None
) -> HoldResult:
    message = Message(kind="timetable", audience="students", created_at=FRIDAY_21H)
    decision = Scheduler(policy, SCHOOL).decide(message)
    return queue.hold(
        establishment=SCHOOL,
        message=message,
        decision=decision,
        payload={"edt": "salle 12"},
        idempotency_key="edt",
        expires_at=expires_at,
    )


def test_a_policy_s_expiry_for_a_kind_expires_a_message_held_longer() -> None:
    queue = HoldQueue(MemoryStore())
    result = timetable_change(queue, TIMETABLE_12H)
    assert (result.outcome, result.state) == ("expired", "expired")
    kept = timetable_change(HoldQueue(MemoryStore()), Policy.national())
    assert kept.outcome == "held"


def test_the_earlier_of_the_request_s_and_the_policy_s_expiry_counts() -> None:
    sunday = datetime(2025, 11, 9, 12, 0, tzinfo=PARIS)
    result = timetable_change(HoldQueue(MemoryStore()), Policy.national(), expires_at=sunday)
    assert result.outcome == "expired"
    later = FRIDAY_21H + timedelta(days=7)
    policy = Policy.from_mapping({"expires_after": {"timetable": "100h"}})
    result = timetable_change(HoldQueue(MemoryStore()), policy, expires_at=later)
    assert result.outcome == "held"
    with pytest.raises(NaiveDatetimeError, match="expires_at"):
        timetable_change(HoldQueue(MemoryStore()), policy, expires_at=datetime(2025, 11, 9))


@pytest.mark.parametrize("bad", ["-2h", 0, "soon"])
def test_a_policy_refuses_an_expiry_that_is_not_a_positive_duration(bad: object) -> None:
    with pytest.raises(PolicyError, match="expires_after"):
        Policy.from_mapping({"expires_after": {"timetable": bad}})


def test_a_reschedule_under_the_recorded_policy_re_evaluates_expiry() -> None:
    store = MemoryStore()
    queue = HoldQueue(store)
    policy = Policy.from_mapping({"expires_after": {"timetable": "60h"}})
    result = timetable_change(queue, policy)
    assert result.outcome == "held"
    closed = dict(policy.model_dump(mode="json"), closures=[{"start": "2025-11-10"}])
    assert queue.reschedule(SCHOOL, Scheduler(Policy.from_mapping(closed), SCHOOL)) == 1
    found = store.get(SCHOOL.key, result.id)
    assert found is not None and found.state == "expired"


# -- the worker ------------------------------------------------------------------------------------


def test_the_worker_expires_a_message_claimed_after_its_expiry_and_counts_it() -> None:
    store = MemoryStore()
    put(store, msg("late", release_at=T0, expires_at=T0 + 60), msg("ok", release_at=T0))
    sent: list[str] = []

    async def deliver(delivery: Delivery) -> None:
        sent.append(delivery.idempotency_key)

    worker = ReleaseWorker(store, deliver, clock=lambda: T0 + 600, poll_interval=600)
    assert asyncio.run(worker.run_once()) == 2
    assert sent == ["ok"]
    assert worker.counters["expired"] == 1
    assert "deconnexion_worker_expired_total" in worker.prometheus_text()
    assert store.stats(EST).by_state == {"expired": 1, "released": 1}


# -- the gate --------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_202_answer_says_a_message_expired_at_hold_time() -> None:
    async def edt(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/edt", edt, methods=["POST"])])
    friday_22h = datetime(2025, 11, 7, 22, 0, tzinfo=PARIS).timestamp()
    middleware = DeconnexionMiddleware(
        app,
        queue=HoldQueue(MemoryStore()),
        routes=[{"path": "/api/edt", "kind": "timetable"}],
        clock=Clock(friday_22h),
        establishment=fixed(SCHOOL),
        policy=TIMETABLE_12H,
    )
    transport = httpx.ASGITransport(app=fake_auth(middleware))
    async with httpx.AsyncClient(transport=transport, base_url="http://ent") as c:
        r = await c.post("/api/edt", json={"salle": 12}, headers={"Authorization": "prof"})
    assert r.status_code == 202
    assert r.json()["outcome"] == "expired"
    assert r.json()["held"] is False  # it will never be delivered
    assert r.json()["expires_at"] == "2025-11-08T10:00:00+01:00"
    assert "deconnexion-release-at" not in r.headers
