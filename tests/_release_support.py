"""Helpers shared by the release worker tests: held messages, a fake clock, a recorder."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from deconnexion.release.deliver import Delivery
from deconnexion.store.base import HeldMessage, priority_for

T0 = 1_762_149_600.0  # 2025-11-03T07:00:00+01:00, Monday
EST = "0750001A"


class FakeClock:
    """A clock the worker's injected `sleep` moves forward."""

    def __init__(self, t: float = T0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class Recorder:
    """A deliverer recording (idempotency key, ids, clock time); `fail` decides failures.

    With `Recorder.batch` set (the `delivery_path` fixture of tests/test_worker.py), each
    recorder is also a `BatchDeliverer`: the worker hands it whole layers of a batch through
    `deliver_many`, which answers each delivery as `__call__` would."""

    batch = False

    def __init__(
        self, clock: Callable[[], float], fail: Callable[[Delivery], Any] | None = None
    ) -> None:
        self.clock = clock
        self.fail = fail
        self.seen: list[tuple[str, tuple[str, ...], float, Delivery]] = []
        self.tries: dict[str, int] = {}
        self.calls: list[int] = []  # deliver_many: how many deliveries each call had
        if Recorder.batch:
            self.deliver_many = self._deliver_many

    async def _deliver_many(self, deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        self.calls.append(len(deliveries))
        recipients = [r for d in deliveries for r in d.recipients]
        assert len(recipients) == len(set(recipients)), "two units of a recipient in one call"
        outcomes: list[BaseException | None] = []
        for delivery in deliveries:
            try:
                await self(delivery)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    async def __call__(self, delivery: Delivery) -> None:
        self.tries[delivery.idempotency_key] = self.tries.get(delivery.idempotency_key, 0) + 1
        if self.fail is not None:
            error = self.fail(delivery)
            if error is not None:
                raise error
        self.seen.append((delivery.idempotency_key, delivery.ids, self.clock(), delivery))

    @property
    def keys(self) -> list[str]:
        return [key for key, _, _, _ in self.seen]


def held(
    key: str,
    *,
    release_at: float = T0,
    recipients: tuple[str, ...] = ("parent:1",),
    kind: str = "grade",
    urgent: bool = False,
    created_at: float | None = None,
    reasons: tuple[str, ...] = ("weekend",),
    meta: dict[str, Any] | None = None,
) -> HeldMessage:
    return HeldMessage(
        id=uuid.uuid4().hex,
        establishment=EST,
        idempotency_key=key,
        collapse_key=None,
        kind=kind,
        audience="parents",
        sender_role="teacher",
        urgent=urgent,
        priority=priority_for(kind, urgent),
        recipients=recipients,
        payload=json.dumps({"key": key}).encode(),
        content_type="application/json",
        meta=meta or {},
        created_at=release_at - 36_000 if created_at is None else created_at,
        release_at=release_at,
        next_attempt_at=release_at,
        reasons=reasons,
        decision={"timezone": "Europe/Paris"},
    )
