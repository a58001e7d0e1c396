"""From a claimed batch to delivery units: singles or digests, per-recipient chains, back-off.

A *unit* is what one deliverer call sends: one held message, or (with digests on) a run of
single-recipient messages for the same recipient. A *chain* is a group of units sharing a
recipient, directly or through a message to several recipients; a chain is delivered in order,
one unit after the other, while different chains go concurrently.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Container, Hashable, Sequence
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfoNotFoundError

from deconnexion.core.frozen import frozen_builder
from deconnexion.core.message import ReasonCode
from deconnexion.core.timeutil import from_epoch, zone
from deconnexion.release.deliver import Delivery
from deconnexion.release.digest import DigestItem, digest_key, digest_payload
from deconnexion.store.claimed import ClaimedMessage

__all__ = [
    "QUIET_CODES",
    "ReleaseTimes",
    "Unit",
    "advance",
    "backoff_delay",
    "build_units",
    "chains",
    "digest_delivery",
    "recipient_keys",
    "send_deadline",
    "single_delivery",
    "single_units",
]

RecipientKey = tuple[str, str]

# a message held for one of these reasons is released when a quiet window ends: at the start
# of an open window, which smoothing may spread into
QUIET_CODES = frozenset(
    code.value
    for code in (
        ReasonCode.NIGHT,
        ReasonCode.WEEKEND,
        ReasonCode.PUBLIC_HOLIDAY,
        ReasonCode.SCHOOL_HOLIDAY,
        ReasonCode.CLOSURE,
    )
)


class Unit:
    """One deliverer call: the messages it covers (in order) and what is sent.

    `release_at` is the latest of the messages', `priority` the most urgent, `expires_at` the
    earliest (None: none expires). A plain slots class computing those in one `__init__`,
    not a dataclass with a `__post_init__`: one call less per released message."""

    __slots__ = ("delivery", "expires_at", "keys", "messages", "priority", "release_at")

    def __init__(
        self, messages: list[ClaimedMessage], delivery: Delivery, keys: tuple[RecipientKey, ...]
    ) -> None:
        self.messages = messages
        self.delivery = delivery
        self.keys = keys
        if len(messages) == 1:
            m = messages[0]
            self.release_at: float = m.release_at
            self.priority: int = m.priority
            self.expires_at: float | None = m.expires_at
        else:
            self.release_at = max(m.release_at for m in messages)
            self.priority = min(m.priority for m in messages)
            ends = [m.expires_at for m in messages if m.expires_at is not None]
            self.expires_at = min(ends) if ends else None

    @property
    def ids(self) -> tuple[str, ...]:
        """The held-message ids it covers, in order (the delivery's)."""
        return self.delivery.ids

    def __repr__(self) -> str:
        return f"Unit(ids={self.ids!r}, release_at={self.release_at!r})"


def recipient_keys(message: ClaimedMessage) -> tuple[RecipientKey, ...]:
    """(establishment, recipient) pairs; a message without recipients orders on ("", "")."""
    names = message.recipients
    if len(names) == 1:
        return ((message.establishment, names[0]),)
    return tuple([(message.establishment, name) for name in names or ("",)])


_ZONES: dict[str | None, tzinfo] = {}


def _tz(message: ClaimedMessage) -> tzinfo:
    """The establishment's time zone recorded with the decision (UTC if none or unknown)."""
    name = message.timezone
    found = _ZONES.get(name)
    if found is None:
        try:
            found = zone(name) if name is not None else zone("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            found = zone("UTC")
        if len(_ZONES) < 1024:  # names come from stored decisions: keep the table bounded
            _ZONES[name] = found
    return found


class ReleaseTimes:
    """Release instants as aware datetimes in each establishment's zone, each (instant, zone)
    built once: a batch is mostly one backlog due at the same instant (Monday 07:00), and a
    dict lookup costs a tenth of `datetime.fromtimestamp` with a zone (1 µs)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[tuple[float, str | None], datetime] = {}

    def __call__(self, message: ClaimedMessage) -> datetime:
        key = (message.release_at, message.timezone)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = from_epoch(message.release_at, _tz(message))
        return found


# `Delivery(...)` in two thirds of the time (2.1 µs instead of 3.4), its checks still run
# (see core/frozen.py): one per message released
_delivery: Callable[..., Delivery] = frozen_builder(Delivery)


def single_delivery(message: ClaimedMessage, times: ReleaseTimes | None = None) -> Delivery:
    """What one message's deliverer call sends; `times`, a batch's shared `ReleaseTimes`."""
    return _delivery(
        idempotency_key=message.idempotency_key,
        establishment=message.establishment,
        recipients=tuple(message.recipients),
        payload=message.payload,
        content_type=message.content_type,
        release_at=(times or ReleaseTimes())(message),
        ids=(message.id,),
        kinds=(message.kind,),
        attempt=message.attempts,
    )


def digest_delivery(messages: Sequence[ClaimedMessage]) -> Delivery:
    tz = _tz(messages[0])
    release = from_epoch(max(m.release_at for m in messages), tz)
    items = [
        DigestItem(
            m.id, m.idempotency_key, m.kind, from_epoch(m.created_at, tz), m.payload, m.content_type
        )
        for m in messages
    ]
    return Delivery(
        idempotency_key=digest_key(items),
        establishment=messages[0].establishment,
        recipients=tuple(messages[0].recipients),
        payload=digest_payload(items, release),
        content_type="application/json",
        release_at=release,
        ids=tuple(m.id for m in messages),
        kinds=tuple(m.kind for m in messages),
        attempt=max(m.attempts for m in messages),
        digest=True,
    )


def single_units(messages: Sequence[ClaimedMessage], times: ReleaseTimes) -> list[Unit]:
    """One unit per message, in order: `single_delivery` and `recipient_keys` written out in
    one loop (a batch without digests, the usual one), the `Delivery` built positionally."""
    units = []
    for m in messages:
        names = m.recipients
        establishment = m.establishment
        if len(names) == 1:
            keys: tuple[RecipientKey, ...] = ((establishment, names[0]),)
        else:
            keys = recipient_keys(m)
        delivery = _delivery(
            m.idempotency_key,
            establishment,
            tuple(names),
            m.payload,
            m.content_type,
            times(m),
            (m.id,),
            (m.kind,),
            m.attempts,
        )
        units.append(Unit([m], delivery, keys))
    return units


def build_units(messages: Sequence[ClaimedMessage], *, digest: bool) -> list[Unit]:
    """Units in claim order. With `digest`, consecutive messages of one recipient (not
    interrupted by a message to several recipients including them) merge into one digest
    placed where the first of them was."""
    times = ReleaseTimes()
    if not digest:
        return single_units(messages, times)
    groups: list[list[ClaimedMessage]] = []
    open_group: dict[RecipientKey, int] = {}
    for m in messages:
        keys = recipient_keys(m)
        if len(m.recipients) == 1:
            at = open_group.get(keys[0])
            if at is not None:
                groups[at].append(m)
                continue
            open_group[keys[0]] = len(groups)
        else:
            for key in keys:
                open_group.pop(key, None)
        groups.append([m])
    units = []
    for group in groups:
        if len(group) == 1:
            units.append(Unit(group, single_delivery(group[0], times), recipient_keys(group[0])))
        else:
            units.append(Unit(group, digest_delivery(group), recipient_keys(group[0])))
    return units


def chains(keys: Sequence[Sequence[Hashable]]) -> list[list[int]]:
    """Indices grouped by shared recipient (union-find), each group in order, groups ordered
    by their first index."""
    if all(len(ks) == 1 for ks in keys):  # the common case: one recipient per unit
        by_key: dict[Hashable, list[int]] = {}
        for i, ks in enumerate(keys):
            by_key.setdefault(ks[0], []).append(i)
        return list(by_key.values())
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Hashable, int] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            j = owner.get(k)
            if j is None:
                owner[k] = i
            else:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def backoff_delay(
    attempts: int, *, base: float, cap: float, key: str = "", jitter: float = 0.1
) -> float:
    """Seconds before the next try after `attempts` failed tries: base**attempts, capped,
    stretched by up to `jitter` (a fraction, derived from `key`: deterministic, but two
    messages failing together do not retry in the same instant)."""
    n = max(1, attempts)
    delay = cap if n * math.log(base) >= math.log(cap) else base**n
    digest = hashlib.blake2b(f"{key}:{n}".encode(), digest_size=8).digest()
    spread = int.from_bytes(digest, "big") / 2**64
    return float(min(cap, delay * (1.0 + jitter * spread)))


def send_deadline(unit: Unit) -> float | None:
    """The last instant smoothing may send a unit: for a message released when a quiet window
    ends, the end of the open window if the queue recorded it (`meta["open_until"]`), else
    unbounded; for a message released in the middle of an open window (a grade reaching
    parents 24 h after students), its release time: it may be shortly before 20:00, so it is
    never delayed."""
    cap: float | None = None
    for m in unit.messages:
        until = m.meta.get("open_until") if isinstance(m.meta, dict) else None
        if isinstance(until, int | float) and not isinstance(until, bool):
            own: float | None = float(until) - 1.0
        elif QUIET_CODES.isdisjoint(m.reasons):
            own = m.release_at
        else:
            own = None
        if own is not None and (cap is None or own < cap):
            cap = own
    return cap


def advance(
    pending: list[list[int]],
    units: list[Unit],
    slots: list[float],
    settled: Container[int],
    blocked: dict[int, float],
) -> tuple[list[list[int]], list[tuple[list[ClaimedMessage], float]]]:
    """Drop the units a wave settled (`id(unit)` in `settled`); a chain's units after one that
    will be retried (`blocked`: id → when) are held back until that retry: a recipient's
    messages never overtake each other. Returns the chains left and the units held back."""
    still: list[list[int]] = []
    held_back: list[tuple[list[ClaimedMessage], float]] = []
    for chain in pending:
        rest: list[int] = []
        block: float | None = None
        for i in chain:
            key = id(units[i])
            if key in settled:
                if key in blocked:
                    block = blocked[key] if block is None else max(block, blocked[key])
            elif block is not None:
                held_back.append((units[i].messages, max(block, slots[i])))
            else:
                rest.append(i)
        if rest:
            still.append(rest)
    return still, held_back
