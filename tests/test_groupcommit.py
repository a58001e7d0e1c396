"""Group commit: concurrent holds share transactions; every request gets its own answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from _asgi_support import QUIET

from deconnexion.core.message import Audience, Kind, Message
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import InvalidInputError, StoreError
from deconnexion.hold.queue import HoldQueue
from deconnexion.hold.request import HoldRequest
from deconnexion.store import MemoryStore
from deconnexion.web.group_commit import GroupCommit

pytestmark = pytest.mark.anyio

PARIS = Establishment(uai="0750001A")
MESSAGE = Message(
    kind=Kind.MESSAGE, audience=Audience.PARENTS, created_at=datetime.fromtimestamp(QUIET, UTC)
)
DECISION = Scheduler(None, PARIS).decide(MESSAGE)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SlowQueue(HoldQueue):
    """A real queue whose writes take a while, so that requests pile up behind one."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__(MemoryStore())
        self.batches: list[int] = []
        self.fail = fail

    def hold_each(self, requests: Any) -> Any:
        self.batches.append(len(requests))
        time.sleep(0.02)
        if self.fail is not None:
            raise self.fail
        return super().hold_each(requests)


def fields(key: str, payload: bytes = b'{"x": 1}') -> dict[str, Any]:
    return {
        "establishment": PARIS,
        "message": MESSAGE,
        "decision": DECISION,
        "payload": payload,
        "idempotency_key": key,
    }


async def hold_all(group: GroupCommit, items: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = [None] * len(items)

    async def one(i: int) -> None:
        try:
            out[i] = await group.hold(**items[i])
        except Exception as exc:
            out[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(items)):
            tg.start_soon(one, i)
    return out


async def test_concurrent_holds_share_transactions_and_each_gets_its_result() -> None:
    queue = SlowQueue()
    results = await hold_all(GroupCommit(queue, HoldRequest), [fields(f"k{i}") for i in range(20)])
    assert len(queue.batches) < 20
    assert sum(queue.batches) == 20
    assert [r.outcome for r in results] == ["held"] * 20
    stored = {m.idempotency_key: m.id for m in queue.store.list("0750001A", None, limit=100)}
    assert [r.id for r in results] == [stored[f"k{i}"] for i in range(20)]


async def test_one_bad_request_does_not_refuse_the_others() -> None:
    queue = SlowQueue()
    items = [fields(f"k{i}") for i in range(6)]
    items[3] = fields("")  # an empty idempotency key is refused
    results = await hold_all(GroupCommit(queue, HoldRequest), items)
    assert isinstance(results[3], InvalidInputError)
    assert [r.outcome for i, r in enumerate(results) if i != 3] == ["held"] * 5
    assert len(queue.store.list("0750001A", None)) == 5


async def test_a_queue_without_hold_each_still_splits_a_batch_one_request_refuses() -> None:
    class OldQueue(HoldQueue):
        hold_each = None  # type: ignore[assignment]  # a queue written before hold_each

    queue = OldQueue(MemoryStore())
    items = [fields(f"k{i}") for i in range(4)]
    items[2] = fields("")
    results = await hold_all(GroupCommit(queue, HoldRequest), items)
    assert isinstance(results[2], InvalidInputError)
    assert len(queue.store.list("0750001A", None)) == 3


async def test_a_store_failure_reaches_every_request_of_the_batch() -> None:
    queue = SlowQueue(fail=StoreError("disk full"))
    results = await hold_all(GroupCommit(queue, HoldRequest), [fields(f"k{i}") for i in range(5)])
    assert all(isinstance(r, StoreError) for r in results)
    assert queue.store.list("0750001A", None) == []


async def test_the_same_key_twice_in_one_batch_is_held_once() -> None:
    queue = SlowQueue()
    results = await hold_all(GroupCommit(queue, HoldRequest), [fields("same")] * 4)
    assert len({r.id for r in results}) == 1
    assert sorted(r.outcome for r in results) == ["duplicate"] * 3 + ["held"]
