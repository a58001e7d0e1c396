"""Storm smoothing: when each released message of a batch is sent.

On Monday at 07:00 a weekend's backlog is due at once. Sending it all in the same second floods
the ENT's notification system; smoothing gives every message a send slot instead:

- never before its `release_at` (nor before `now`), never after its `latest` (the end of its
  open window; a recipient's earlier messages inherit it);
- at most `max_rate` messages per second (consecutive slots at least 1/max_rate apart, carried
  over from one batch to the next), except messages capped by their `latest`;
- urgent messages and timetable changes (priority 0) first;
- a recipient's messages never reorder: a message that must go early pulls the recipient's
  earlier messages forward with it.

`spread_rate` turns a spread window ("finish the 07:00 backlog by 07:15") into a rate for the
remaining backlog. Everything here is pure and deterministic: the same input gives the same slots.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from deconnexion.errors import InvalidInputError

__all__ = ["Due", "Smoother", "SpreadWindow", "plan_slots", "spread_rate"]


@dataclass(frozen=True, slots=True)
class Due:
    """What smoothing needs of a claimed message: who receives it, when it was due, how urgent.

    `recipients` are hashables (the worker uses `(establishment, recipient)` pairs); a message
    to several recipients is ordered with respect to each of them. `release_at` is epoch
    seconds; `priority` 0 is urgent or timetable, larger values later. `latest`, when set, is
    the last instant it may be sent (the end of its open window): smoothing never delays it
    past that, even if the rate must be exceeded (a burst is better than a message at night).
    """

    recipients: tuple[Hashable, ...]
    release_at: float
    priority: int = 1
    latest: float | None = None


def _check_rate(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise InvalidInputError(f"{name}: {value!r}; expected a number of messages per second > 0")


def _send_order(items: Sequence[Due]) -> list[int]:
    """Indices in send order: by inherited priority, then due time, keeping per-recipient order.

    A message inherits the smallest priority of its recipients' later messages, and the largest
    due time of their earlier ones: along any recipient's sequence the sort key never decreases,
    so the sort cannot swap two of their messages.
    """
    n = len(items)
    prio = [0] * n
    following: dict[Hashable, int] = {}
    for i in range(n - 1, -1, -1):
        item = items[i]
        p = item.priority
        for r in item.recipients:
            after = following.get(r)
            if after is not None and after < p:
                p = after
        prio[i] = p
        for r in item.recipients:
            following[r] = p
    due = [0.0] * n
    before: dict[Hashable, float] = {}
    for i, item in enumerate(items):
        d = item.release_at
        for r in item.recipients:
            d = max(d, before.get(r, d))
        due[i] = d
        for r in item.recipients:
            before[r] = d
    return sorted(range(n), key=lambda i: (prio[i], due[i], i))


def _inherited_latest(items: Sequence[Due]) -> list[float | None]:
    """A message must go no later than its recipients' later messages must (else keeping
    their order would push those past their own `latest`)."""
    out: list[float | None] = [None] * len(items)
    following: dict[Hashable, float] = {}
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        cap = item.latest
        for r in item.recipients:
            after = following.get(r)
            if after is not None and (cap is None or after < cap):
                cap = after
        out[i] = cap
        if cap is not None:
            for r in item.recipients:
                following[r] = cap
    return out


def plan_slots(
    items: Sequence[Due],
    *,
    now: float,
    max_rate: float | None = None,
    next_free: float | None = None,
) -> tuple[list[float], float | None]:
    """Send slot (epoch seconds) of each item, in input order, and the next free rate slot.

    `items` are in claim order (a recipient's messages in the order they must arrive).
    `next_free` is the value returned for the previous batch, so the rate holds across batches.
    """
    _check_rate("max_rate", max_rate)
    slots = [0.0] * len(items)
    last: dict[Hashable, float] = {}
    gap = 1.0 / max_rate if max_rate else 0.0
    free = now if next_free is None else max(now, next_free)
    latest = _inherited_latest(items)
    for i in _send_order(items):
        item = items[i]
        base = max(now, item.release_at)
        for r in item.recipients:
            base = max(base, last.get(r, base))
        slot = max(base, free) if max_rate else base
        cap = latest[i]
        if cap is not None and slot > cap:
            slot = max(base, cap)  # capped: a burst, outside the rate's budget
        elif max_rate:
            free = slot + gap
        slots[i] = slot
        for r in item.recipients:
            last[r] = slot
    return slots, (free if max_rate else None)


def spread_rate(
    backlog: int, *, window_open: float, spread_seconds: float, now: float
) -> float | None:
    """The rate that sends `backlog` messages by `window_open + spread_seconds`.

    None (no limit) when the spread window is over, so a late worker catches up at full speed
    unless a `max_rate` caps it.
    """
    if spread_seconds <= 0:
        raise InvalidInputError(f"spread_seconds: {spread_seconds!r}; expected seconds > 0")
    left = window_open + spread_seconds - now
    if backlog <= 0 or left <= 0:
        return None
    return backlog / left


class Smoother:
    """`plan_slots` with the rate's next free slot kept between batches.

    `rate` is `max_rate`, lowered for a spread window by `set_spread_rate`.
    """

    def __init__(self, max_rate: float | None = None) -> None:
        _check_rate("max_rate", max_rate)
        self.max_rate = max_rate
        self.rate = max_rate
        self.next_free: float | None = None

    def set_spread_rate(self, rate: float | None) -> None:
        """Use `rate` (from `spread_rate`) if slower than `max_rate`; None keeps `max_rate`."""
        if rate is None:
            self.rate = self.max_rate
        elif self.max_rate is None:
            self.rate = rate
        else:
            self.rate = min(rate, self.max_rate)

    def plan(self, items: Sequence[Due], now: float) -> list[float]:
        slots, self.next_free = plan_slots(
            items, now=now, max_rate=self.rate, next_free=self.next_free
        )
        return slots


class SpreadWindow:
    """The state of a spread window across batches: when the backlog was found, how big it
    was, how much of it went out. The worker counts the backlog (`needs_count`), reports
    each batch (`sent`) and asks for the rate; an empty or partial claim (`drained`) or the
    end of the window closes it, and the next backlog opens a new one."""

    def __init__(self, spread_seconds: float, recount_seconds: float = 30.0) -> None:
        if not spread_seconds > 0:
            raise InvalidInputError(f"spread_seconds: {spread_seconds!r}; expected seconds > 0")
        self.spread_seconds = float(spread_seconds)
        self.recount_seconds = float(recount_seconds)
        self.opened_at: float | None = None
        self.backlog = 0
        self.sent_since_count = 0
        self.counted_at = 0.0

    def needs_count(self, now: float) -> bool:
        """True when the backlog must be counted: no open window, the window is over, or
        the last count is older than `recount_seconds` (other workers drain it too)."""
        if self.opened_at is not None and now >= self.opened_at + self.spread_seconds:
            self.opened_at = None
        return self.opened_at is None or now - self.counted_at >= self.recount_seconds

    def counted(self, now: float, backlog: int) -> None:
        if self.opened_at is None:
            self.opened_at = now
        self.backlog, self.sent_since_count, self.counted_at = backlog, 0, now

    def rate(self, now: float) -> float | None:
        if self.opened_at is None:
            return None
        return spread_rate(
            self.backlog - self.sent_since_count,
            window_open=self.opened_at,
            spread_seconds=self.spread_seconds,
            now=now,
        )

    def sent(self, count: int) -> None:
        self.sent_since_count += count

    def drained(self) -> None:
        self.opened_at = None
