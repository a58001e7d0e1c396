"""Delivering one claimed batch: slots, waves of per-recipient chains, acknowledgements,
retries with back-off, dead letters, and giving back what was not tried.

`ClaimedBatch(settings, store, deliverer, clock, ...).process(batch, claimed_at, tally)` is the
body of `ReleaseWorker.run_once`. It is given what it uses (a frozen `ReleaseSettings`, the
store, the deliverer, the clock, and the worker's pacing: send slots, pause, stopping) and
knows nothing else of the worker, which imports it, never the other way round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from deconnexion.errors import DeliveryError, PermanentDeliveryError
from deconnexion.release.deliver import Deliverer, DeliverMany
from deconnexion.release.follow import Followers
from deconnexion.release.units import Unit, advance, backoff_delay, build_units, chains
from deconnexion.store.base import HoldStore
from deconnexion.store.claimed import ClaimedMessage

__all__ = ["LEASE_USE", "ClaimedBatch", "ReleaseSettings"]

log = logging.getLogger("deconnexion.worker")

LEASE_USE = 0.8  # deliver nothing later than this fraction of the lease after the claim

Outcome = BaseException | None  # None: delivered


@dataclass(frozen=True, slots=True)
class ReleaseSettings:
    """The worker's configuration as one claimed batch reads it."""

    worker_id: str
    lease_seconds: float
    max_attempts: int
    backoff_base: float
    backoff_max: float
    concurrency: int  # deliveries in flight at once
    digest: bool  # fold a recipient's messages of one slot into one digest


class ClaimedBatch:
    """One batch claimed by a worker, from send slots to acknowledgements.

    `tally` (given to `process`) counts what happened: released, failed, dead, deferred,
    expired, digests and early_skipped; the worker adds it to its counters. A message claimed
    at or after its `expires_at` (or reaching it while the batch is paced) is expired, never
    sent. `followers`, when given, holds back the parents' grades whose students' copy was
    delivered too recently (`deconnexion.release.follow`; tallied as waited_for_students).
    """

    def __init__(
        self,
        settings: ReleaseSettings,
        store: HoldStore,
        deliverer: Deliverer,
        clock: Callable[[], float],
        *,
        send_slots: Callable[[Sequence[Unit], float], list[float]],
        pause: Callable[[float], Awaitable[None]],
        stopping: Callable[[], bool],
        followers: Followers | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.deliverer = deliverer
        self.clock = clock
        self.send_slots = send_slots
        self.pause = pause
        self.stopping = stopping
        self.followers = followers
        many = getattr(deliverer, "deliver_many", None)
        self.many: DeliverMany | None = many if callable(many) else None
        self.horizon = float("inf")  # no delivery starts later (set by `process`)

    async def process(
        self, batch: list[ClaimedMessage], claimed_at: float, tally: dict[str, int]
    ) -> None:
        # No delivery starts after LEASE_USE of the lease: a batch claimed ahead (the worker's
        # prefetch) or slowed down (an overloaded machine) that reaches it gives the rest
        # back instead, before the lease ends and another worker may claim and deliver it.
        self.horizon = claimed_at + self.settings.lease_seconds * LEASE_USE
        most = self.settings.max_attempts
        worn = [m for m in batch if m.attempts > most]
        if worn:
            # leases expired max_attempts times: the worker dies on it, or cannot finish in time
            error = f"gave up after {most} attempts (leases expired)"
            tally["dead"] += await self.fail([(m, error, None) for m in worn])
            batch = [m for m in batch if m.attempts <= most]
        now = self.clock()
        late = [m for m in batch if m.expires_at is not None and m.expires_at <= now]
        if late:  # claimed after it lost its meaning: never delivered
            tally["expired"] += await self.expire(late, now)
            batch = [m for m in batch if not _expired(m, now)]
        if batch and self.followers is not None:
            # a parents' grade goes no sooner than the delay after the students' delivery
            split = await asyncio.to_thread(self.followers.sort, batch, claimed_at)
            if split.waiting:
                waited = await self.give_back(split.waiting)
                tally["waited_for_students"] += waited
                tally["deferred"] += waited
            if split.quiet:  # back at night after a retry or an expired lease: wait for 07:00
                waited = await self.give_back(split.quiet)
                tally["waited_for_open"] += waited
                tally["deferred"] += waited
            batch = split.ready
        units = build_units(batch, digest=self.settings.digest)
        if self.settings.digest:
            tally["digests"] += sum(1 for u in units if u.delivery.digest)
        slots = self.send_slots(units, claimed_at)
        horizon = self.horizon
        latest = max(slots, default=0.0)
        pending = chains([u.keys for u in units])
        if latest > horizon:
            later = [i for i, slot in enumerate(slots) if slot > horizon]
            tally["deferred"] += await self.give_back(
                [(units[i].messages, slots[i]) for i in later]
            )
            pending = [[i for i in chain if slots[i] <= horizon] for chain in pending]
            pending = [chain for chain in pending if chain]
        while pending:
            now = self.clock()
            if latest <= now:  # every slot reached (an unpaced batch): each chain whole
                wave = [
                    [units[chain[0]]] if len(chain) == 1 else [units[i] for i in chain]
                    for chain in pending
                ]
            else:
                wave = [[units[i] for i in chain if slots[i] <= now] for chain in pending]
                wave = [part for part in wave if part]
            if not wave:
                if self.stopping():
                    break
                await self.pause(min(slots[chain[0]] for chain in pending) - now)
                continue
            outcomes = await self.deliver_wave(wave)
            blocked = await self.settle(units, outcomes, tally)
            if not blocked and len(outcomes) == sum(len(chain) for chain in pending):
                pending = []  # every unit settled, none to retry: nothing held back
            else:
                pending, held_back = advance(pending, units, slots, outcomes, blocked)
                if held_back:
                    tally["deferred"] += await self.give_back(held_back)
            if self.stopping():
                break
        if pending:  # stopping: give the undelivered rest back, due now
            now = self.clock()
            rest = [(units[i].messages, max(slots[i], now)) for chain in pending for i in chain]
            tally["deferred"] += await self.give_back(rest)

    async def deliver_wave(self, parts: list[list[Unit]]) -> dict[int, Outcome]:
        """Deliver each part's units in order, parts concurrently (at most `concurrency`, or
        as a `BatchDeliverer` chooses). A part stops at its first failure; the units after it
        get no outcome."""
        if self.many is not None:
            return await self.deliver_layers(parts, self.many)
        outcomes: dict[int, Outcome] = {}
        queue = iter(parts)

        async def runner() -> None:
            for part in queue:
                for unit in part:
                    outcome = await self.deliver_one(unit)
                    outcomes[id(unit)] = outcome
                    if not _goes_on(outcome):
                        break  # the rest of this chain waits (see units.advance)

        n = min(self.settings.concurrency, len(parts))
        if n == 1:
            await runner()
        else:
            await asyncio.gather(*(runner() for _ in range(n)))
        return outcomes

    async def deliver_one(self, unit: Unit) -> Outcome:
        now = self.clock()
        refused = self.refusal(unit, now)
        if refused is not None:
            return refused
        try:
            await self.deliverer(unit.delivery)
        except Exception as exc:
            return exc
        return None

    def refusal(self, unit: Unit, now: float) -> Outcome:
        """Why `unit` may not start at `now` (None: it may): the last check before sending."""
        if unit.release_at > now:
            # never before release_at: the store or the smoothing got it wrong; do not send
            return _TooEarly(unit.release_at, now)
        expires = unit.expires_at
        if expires is not None and expires <= now:
            # its time passed while the batch was paced: not sent. A digest with fresh items
            # too blocks its chain: those are given back, and the recipient's later units
            # must not overtake them
            return EXPIRED if all(_expired(m, now) for m in unit.messages) else EXPIRED_IN_PART
        if now > self.horizon:
            return LEASE_SPENT  # too late to start: the lease may end while it is sent
        return None

    async def deliver_layers(
        self, parts: list[list[Unit]], many: DeliverMany
    ) -> dict[int, Outcome]:
        """`deliver_wave` for a `BatchDeliverer`: the first unit of every part in one
        `deliver_many` call, then the second of the parts whose first went, and so on (a
        recipient's units still go one after the other, each checked by `refusal` when its
        call starts). One call for a whole unpaced batch instead of a coroutine per unit:
        with the units and the layers, the worker's own Python per released message went from
        54,000 to 28,000 instructions (callgrind, SQLite, `NullDeliverer`, 10,000 messages)."""
        outcomes: dict[int, Outcome] = {}
        depth = max(len(part) for part in parts)
        live = parts
        pos = 0
        while True:
            now = self.clock()
            horizon = self.horizon
            send: list[Unit] = []
            for part in live:
                unit = part[pos]
                if unit.release_at <= now and unit.expires_at is None and now <= horizon:
                    send.append(unit)  # `refusal` would say None: spared its call
                    continue
                refused = self.refusal(unit, now)
                if refused is None:
                    send.append(unit)
                else:
                    outcomes[id(unit)] = refused
            if send:
                results = await _deliver_many(many, send)
                for unit, result in zip(send, results, strict=True):
                    outcomes[id(unit)] = result
            pos += 1
            if pos >= depth:
                return outcomes
            live = [
                part for part in live if len(part) > pos and _goes_on(outcomes[id(part[pos - 1])])
            ]
            if not live:
                return outcomes

    async def settle(
        self, units: list[Unit], outcomes: dict[int, Outcome], tally: dict[str, int]
    ) -> dict[int, float]:
        """Acknowledge delivered units, retry or dead-letter failed ones, give back early ones.
        Returns {id(unit): instant} for units that will be tried again at that instant."""
        now = self.clock()
        delivered: list[str] = []
        failures: list[tuple[ClaimedMessage, str, float | None]] = []
        early: list[tuple[list[ClaimedMessage], float]] = []
        expired: list[ClaimedMessage] = []
        spent: list[tuple[list[ClaimedMessage], float]] = []
        blocked: dict[int, float] = {}
        outcome_of = outcomes.get
        for unit in units:
            outcome = outcome_of(id(unit), _UNSETTLED)
            if outcome is None:
                delivered.extend(unit.delivery.ids)
            elif outcome is _UNSETTLED:
                continue
            elif outcome is EXPIRED or outcome is EXPIRED_IN_PART:
                expired.extend(m for m in unit.messages if _expired(m, now))
                rest = [m for m in unit.messages if not _expired(m, now)]
                if rest:  # a digest with fresh items too: those go next time, in order
                    early.append((rest, now))
                    blocked[id(unit)] = now
            elif outcome is LEASE_SPENT:
                spent.append((unit.messages, now))
                blocked[id(unit)] = now
            elif isinstance(outcome, _TooEarly):
                log.error("%s; not delivered, given back", outcome)
                early.append((unit.messages, unit.release_at))
                blocked[id(unit)] = unit.release_at
            else:
                plan = self.failure_plan(unit, outcome, now)
                failures.extend(plan)
                retries = [retry for _, _, retry in plan if retry is not None]
                if retries:
                    blocked[id(unit)] = max(retries)
        if delivered:
            acked = await asyncio.to_thread(self.store.ack, delivered, self.settings.worker_id, now)
            tally["released"] += acked
            if acked < len(delivered):
                log.warning(
                    "%d delivered messages were no longer leased to %s (lease expired): "
                    "another worker may deliver them again with the same idempotency key",
                    len(delivered) - acked,
                    self.settings.worker_id,
                )
        if failures:
            dead = sum(1 for _, _, retry in failures if retry is None)
            changed = await self.fail(failures)
            tally["dead"] += min(dead, changed)
            tally["failed"] += changed - min(dead, changed)
        if expired:
            tally["expired"] += await self.expire(expired, now)
        if early:
            tally["early_skipped"] += sum(len(messages) for messages, _ in early)
            await self.give_back(early)
        if spent:
            given = await self.give_back(spent)
            tally["deferred"] += given
            log.warning(
                "%d claimed messages given back undelivered: %.0f%% of their %.0fs lease had "
                "passed (a slow batch or an overloaded machine)",
                given,
                LEASE_USE * 100,
                self.settings.lease_seconds,
            )
        return blocked

    def failure_plan(
        self, unit: Unit, error: BaseException, now: float
    ) -> list[tuple[ClaimedMessage, str, float | None]]:
        text = f"{type(error).__name__}: {error}"[:1000]
        plan: list[tuple[ClaimedMessage, str, float | None]] = []
        settings = self.settings
        for m in unit.messages:
            if isinstance(error, PermanentDeliveryError) or m.attempts >= settings.max_attempts:
                plan.append((m, text, None))
                continue
            delay = backoff_delay(
                m.attempts, base=settings.backoff_base, cap=settings.backoff_max, key=m.id
            )
            retry_after = getattr(error, "retry_after", None)
            if isinstance(retry_after, int | float):
                delay = max(delay, min(float(retry_after), settings.backoff_max))
            plan.append((m, text, now + delay))
        if not isinstance(error, PermanentDeliveryError):
            log.warning(
                "delivery of %s failed (attempt %d): %s",
                unit.delivery.idempotency_key,
                unit.delivery.attempt,
                text,
            )
        return plan

    async def fail(self, plan: list[tuple[ClaimedMessage, str, float | None]]) -> int:
        now = self.clock()

        def work() -> int:
            return sum(
                1
                for m, error, retry in plan
                if self.store.fail(m.id, self.settings.worker_id, now, error, retry)
            )

        return await asyncio.to_thread(work)

    async def expire(self, messages: list[ClaimedMessage], now: float) -> int:
        ids = [m.id for m in messages]
        return await asyncio.to_thread(self.store.expire, ids, self.settings.worker_id, now)

    async def give_back(self, items: list[tuple[list[ClaimedMessage], float]]) -> int:
        """Return claimed, untried messages to the store, due again at the given instant
        (the claim does not count as an attempt)."""
        now = self.clock()
        by_at: dict[float, list[str]] = {}
        for messages, at in items:
            by_at.setdefault(at, []).extend(m.id for m in messages)

        worker_id = self.settings.worker_id

        def work() -> int:
            return sum(self.store.give_back(ids, worker_id, now, at) for at, ids in by_at.items())

        return await asyncio.to_thread(work)


async def _deliver_many(many: DeliverMany, units: list[Unit]) -> list[Outcome]:
    """One `deliver_many` call: an outcome per unit (a raised exception fails them all; a
    result that is neither None nor an exception, or a wrong count, is a failure too)."""
    try:
        results = await many([u.delivery for u in units])
    except Exception as exc:
        return [exc] * len(units)
    if not isinstance(results, Sequence) or len(results) != len(units):
        count = len(results) if isinstance(results, Sequence) else type(results).__name__
        error = DeliveryError(f"deliver_many returned {count} results for {len(units)} deliveries")
        return [error] * len(units)
    return [
        r
        if r is None or isinstance(r, BaseException)
        else DeliveryError(f"deliver_many returned {r!r}; expected None or an exception")
        for r in results
    ]


def _goes_on(outcome: Outcome) -> bool:
    """Whether a chain's next unit may go after this outcome (see `units.advance`)."""
    return outcome is None or outcome is EXPIRED


def _expired(message: ClaimedMessage, now: float) -> bool:
    return message.expires_at is not None and message.expires_at <= now


class _Expired(Exception):
    """The outcome of a unit not sent because a message of it expired."""


EXPIRED = _Expired()  # every message of the unit expired: its chain goes on
EXPIRED_IN_PART = _Expired()  # a digest with fresh items too: they go back, the chain waits


class _LeaseSpent(Exception):
    """The outcome of a unit not sent because LEASE_USE of its lease had passed."""


LEASE_SPENT = _LeaseSpent()


class _Unsettled(Exception):
    """What `settle` reads for a unit its wave gave no outcome (never stored)."""


_UNSETTLED = _Unsettled()


class _TooEarly(Exception):
    def __init__(self, release_at: float, now: float) -> None:
        super().__init__(f"claimed message due at {release_at:.3f} but it is {now:.3f}")
