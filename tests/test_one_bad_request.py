"""One bad request never harms another: a row the store refuses fails alone, the other requests
of its group-commit batch (other establishments too) are held and answered 202.

The bad row is made past every check (`build_row` lets only clean text through), by the store
wrapper below: it stands for whatever a future validation gap would let reach the store."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import httpx
import pytest
from _asgi_support import QUIET, Clock, fake_auth
from test_middleware import GATED, PARIS_SCHOOL, Upstream
from test_queue import LYCEE, request

from deconnexion.errors import StoreError, StoreRefusedError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store.base import HeldRows, HoldStore
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.tenant import from_sender

pytestmark = pytest.mark.anyio

RECIPIENTS = 9  # index of `recipients` in a HeldMessage row
REFUSING_STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
POISON = {"sqlite": "x\ud800y", "postgres": "x\x00y"}  # what each store cannot keep


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Poisoning:
    """The real store; the request with idempotency key "bad" gets `poison` as its recipient
    as it is written. The first write waits for `release` so that the next requests pile up
    into one batch behind it."""

    def __init__(self, store: HoldStore, poison: str) -> None:
        self.store = store
        self.poison = poison
        self.batches: list[int] = []
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def insert_many(self, messages: Any, *, now: float) -> Any:
        rows = [
            (*r[:RECIPIENTS], (self.poison,), *r[RECIPIENTS + 1 :]) if r[2] == "bad" else r
            for r in messages.rows
        ]
        self.batches.append(len(rows))
        if len(self.batches) == 1:
            self.release.wait(timeout=30)
        return self.store.insert_many(HeldRows(rows), now=now)


def gateway_over(store: HoldStore) -> tuple[Any, DeconnexionMiddleware]:
    middleware = DeconnexionMiddleware(
        Upstream().app,
        queue=HoldQueue(store),
        routes=GATED,
        clock=Clock(QUIET),
        establishment=from_sender(PARIS_SCHOOL),
    )
    return fake_auth(middleware), middleware


@pytest.mark.parametrize(
    "store_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_row_the_store_refuses_fails_alone_and_its_batch_is_held(
    store: HoldStore, store_kind: str
) -> None:
    poisoning = Poisoning(store, POISON[store_kind])
    app, middleware = gateway_over(poisoning)  # type: ignore[arg-type]
    group = middleware.gate._group
    assert group is not None
    senders = ["prof", "prof-strasbourg"] * 3 + ["prof-strasbourg"]
    keys = ["first", "p1", "s1", "p2", "bad", "p3", "s2"]
    answers: dict[str, httpx.Response] = {}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ent"
    ) as client:

        async def post(key: str, sender: str) -> None:
            answers[key] = await client.post(
                "/api/notifications",
                json={"audience": "parents", "text": key},
                headers={"Authorization": sender, "Idempotency-Key": key},
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(post, keys[0], senders[0])
            while not poisoning.batches:  # the first write is under way
                await anyio.sleep(0.001)
            for key, sender in zip(keys[1:], senders[1:], strict=True):
                tg.start_soon(post, key, sender)
            while len(group._pending) < len(keys) - 1:  # all of them wait behind it
                await anyio.sleep(0.001)
            poisoning.release.set()

    # one batch of six failed on the bad row, then each of the six was written alone
    assert poisoning.batches == [1, 6, 1, 1, 1, 1, 1, 1]
    bad = answers.pop("bad")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"
    assert "cannot keep this data" in bad.json()["message"]
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 202)
    stored = {
        m.idempotency_key
        for uai in ("0750001A", "0671234X")
        for m in store.list(uai, ["held"], limit=100)
    }
    assert stored == set(answers)


@pytest.mark.parametrize(
    "store_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_hold_many_holds_the_others_and_names_the_row_the_store_refused(
    store: HoldStore, store_kind: str
) -> None:
    poisoning = Poisoning(store, POISON[store_kind])
    poisoning.release.set()
    queue = HoldQueue(poisoning)  # type: ignore[arg-type]
    requests = [request(key) for key in ("a", "bad", "c")]
    with pytest.raises(
        StoreRefusedError, match=r"(?s)requests\[1\]: .*2 other valid requests"
    ) as exc:
        queue.hold_many(requests)
    outcomes = exc.value.results
    assert [type(o).__name__ for o in outcomes] == ["HoldResult", "StoreRefusedError", "HoldResult"]
    assert {m.idempotency_key for m in store.list(LYCEE.key, ["held"])} == {"a", "c"}


@pytest.mark.parametrize(
    ("store_kind", "poison"),
    [
        ("sqlite", "x\ud800y"),
        pytest.param("postgres", "x\ud800y", marks=pytest.mark.postgres),
        pytest.param("postgres", "x\x00y", marks=pytest.mark.postgres),
    ],
    ids=["sqlite-surrogate", "postgres-surrogate", "postgres-nul"],
)
def test_data_a_store_cannot_keep_is_a_refusal_not_an_outage(
    store: HoldStore, store_kind: str, poison: str
) -> None:
    poisoning = Poisoning(store, poison)
    poisoning.release.set()
    queue = HoldQueue(poisoning)  # type: ignore[arg-type]
    [outcome] = queue.hold_each([request("bad")])
    assert isinstance(outcome, StoreRefusedError)
    assert isinstance(outcome, ValueError)  # bad input: the gate answers 400, not 503
    assert store.list(LYCEE.key, None) == []
    # the store is still up: the next request is held
    [fine] = queue.hold_each([request("fine")])
    assert fine.outcome == "held"  # type: ignore[union-attr]


def test_a_store_outage_still_fails_the_whole_batch() -> None:
    class Down:
        def insert_many(self, messages: Any, *, now: float) -> Any:
            raise StoreError("cannot connect to the PostgreSQL store")

    queue = HoldQueue(Down())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="cannot connect") as exc:
        queue.hold_each([request(k) for k in "abc"])
    assert not isinstance(exc.value, StoreRefusedError)
