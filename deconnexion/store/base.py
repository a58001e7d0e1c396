"""The hold store protocol: the records it keeps and the handful of operations on them.

The logic (validation, priorities, payload encoding, which scheduler to ask) lives above, in
`deconnexion.hold.queue.HoldQueue`; the release worker talks to the store directly through
`claim_due` / `ack` / `fail` / `give_back` / `next_due_at` / `wait_for_change`. A store only
keeps rows consistent: every state change and its audit rows are written in one transaction.

Times are epoch seconds (UTC) as floats. Methods are synchronous; asyncio callers use
`asyncio.to_thread`. Every implementation is safe to call from several threads.

Life of a message::

    held ──claim_due──▶ claimed ──ack──▶ released
     ▲ │                 │ │ │
     │ │                 │ │ └─fail(retry_at=None)──▶ dead
     │ │                 │ └───fail(retry_at=t)──▶ held (next_attempt_at = t)
     │ │                 └─────give_back(at)──▶ held (next_attempt_at = at, not an attempt)
     │ ├─cancel──▶ cancelled
     │ ├─reschedule past expires_at──▶ expired
     │ │                 claimed ──expire (claimed at or after expires_at)──▶ expired
     │ └─insert with same collapse key and key scope──▶ replaced
     └── claimed with an expired lease is claimable again (attempts + 1)

Invariant kept by every store: `next_attempt_at >= release_at`; a held message is due when
`next_attempt_at <= now` (and therefore `release_at <= now`).

A message with `expires_at` loses its meaning then: one whose release falls after it is
never delivered but "expired" (at insert, at a reschedule, or when a worker claims it too
late), with an "expire" audit row.

Keys belong to a sender. An idempotency key or a collapse key only ever matches a message of
the same establishment *and* the same `key_scope` (the sender: `HoldQueue` puts the actor
there); a message whose `key_scope` is None (an anonymous sender) matches nothing, so it can
neither replace, pre-empt nor learn about another message. An idempotency key names a
*pending* message (held or claimed): once that one is released, cancelled, replaced or dead,
the same key holds a new message (the same reminder sent again next week is sent again).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Literal, Protocol, overload, runtime_checkable

from deconnexion.core.frozen import frozen_builder

__all__ = [
    "AUDIT_ACTIONS",
    "PENDING",
    "STATES",
    "AuditAction",
    "AuditEntry",
    "HeldFields",
    "HeldMessage",
    "HeldRows",
    "HoldStore",
    "InsertOutcome",
    "Rescheduled",
    "State",
    "Stats",
    "build_held",
    "build_outcome",
    "held_fields",
    "priority_for",
    "rows_of",
]

State = Literal["held", "claimed", "released", "cancelled", "replaced", "dead", "expired"]
STATES: tuple[State, ...] = (
    "held",
    "claimed",
    "released",
    "cancelled",
    "replaced",
    "dead",
    "expired",
)

AuditAction = Literal[
    "hold",
    "duplicate",
    "replace",
    "cancel",
    "urgent_override",
    "urgent_refused",
    "release",
    "failure",
    "dead",
    "reschedule",
    "release_now",
    "expire",
]
AUDIT_ACTIONS: tuple[AuditAction, ...] = (
    "hold",
    "duplicate",
    "replace",
    "cancel",
    "urgent_override",
    "urgent_refused",
    "release",
    "failure",
    "dead",
    "reschedule",
    "release_now",
    "expire",
)


def priority_for(kind: str, urgent: bool) -> int:
    """0 first: urgent messages and timetable changes; 1 absences; 2 everything else."""
    if urgent or kind == "timetable":
        return 0
    if kind == "absence":
        return 1
    return 2


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """One message waiting for (or past) its release.

    `id` is a uuid4 hex chosen by the caller. `establishment` is `Establishment.key`.
    `created_at` is the message's own creation instant (what the scheduler decided from);
    `release_at` when it may go out; `next_attempt_at` when the worker may try (≥ release_at,
    later after a failed attempt). `attempts` counts claims, the current one included.
    `seq` is assigned by the store on insert (monotonic insertion order); pass 0.
    `actor` is who asked for the diffusion; `justification` and `publish_to_students_at`
    (epoch) complete the original `Message` so it can be rebuilt for a reschedule.
    `key_scope` is whose keys `idempotency_key` and `collapse_key` are (see the module
    docstring): "" for an application holding without naming an actor, None for an
    anonymous sender (its keys match no other message). `policy` is the digest of the policy
    the release was decided under (its JSON in the store: `recorded_policy`); None for a
    message held before stores recorded it. `expires_at`: past it, the message is not
    delivered (state "expired").
    """

    id: str
    establishment: str
    idempotency_key: str
    collapse_key: str | None
    kind: str
    audience: str
    sender_role: str
    urgent: bool
    priority: int
    recipients: tuple[str, ...]
    payload: bytes
    content_type: str
    meta: dict[str, Any]
    created_at: float
    release_at: float
    next_attempt_at: float
    reasons: tuple[str, ...]
    decision: dict[str, Any]
    state: State = "held"
    attempts: int = 0
    lease_until: float | None = None
    worker_id: str | None = None
    last_error: str | None = None
    released_at: float | None = None
    seq: int = 0
    actor: str | None = None
    justification: str | None = None
    publish_to_students_at: float | None = None
    key_scope: str | None = ""
    policy: str | None = None
    expires_at: float | None = None


PENDING: tuple[State, ...] = ("held", "claimed")  # what an idempotency key can name

HeldFields = tuple[Any, ...]  # a HeldMessage's field values, in field order
held_fields: Callable[[HeldMessage], HeldFields] = attrgetter(
    *(f.name for f in fields(HeldMessage))
)  # one C call per message instead of one attribute read per field
# `HeldMessage(...)` at a fifth of the cost (1.4 µs instead of 7): how stores decode the rows
# they read, a claimed batch above all (see core/frozen.py)
build_held: Callable[..., HeldMessage] = frozen_builder(HeldMessage)


class HeldRows(Sequence[HeldMessage]):
    """Messages kept as tuples of their field values (`HeldMessage(*row)`), built only when
    read (all at once, the first time): a store that writes rows takes `.rows` as they are,
    the others see `HeldMessage`s. Building a frozen dataclass of 28 fields costs more than
    writing its row to SQLite."""

    __slots__ = ("_built", "rows")

    def __init__(self, rows: Sequence[HeldFields]) -> None:
        self.rows = rows
        self._built: builtins.list[HeldMessage] | None = None

    def _messages(self) -> builtins.list[HeldMessage]:
        if self._built is None:  # `build_held`: a batch that must be planned (collapse keys)
            self._built = [build_held(*row) for row in self.rows]  # reads them all
        return self._built

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> HeldMessage: ...

    @overload
    def __getitem__(self, index: slice) -> builtins.list[HeldMessage]: ...

    def __getitem__(self, index: int | slice) -> HeldMessage | builtins.list[HeldMessage]:
        return self._messages()[index]

    def __iter__(self) -> Iterator[HeldMessage]:
        return iter(self._messages())


def rows_of(messages: Sequence[HeldMessage]) -> Sequence[HeldFields]:
    """Field tuples of `messages`, without building them when they are `HeldRows`."""
    if isinstance(messages, HeldRows):
        return messages.rows
    return [held_fields(m) for m in messages]


@dataclass(frozen=True, slots=True)
class InsertOutcome:
    """What `insert_many` did with one message, in the order given.

    outcome "held": inserted. "duplicate": a pending message (held or claimed) of the same
    establishment and key scope has this idempotency key; `id` / `release_at` / `state` are
    that message's (the sender's own), nothing written but an audit row. "replaced":
    inserted, and the held message with the same collapse key and key scope (`replaced_id`)
    is now in state "replaced". "expired": its release would fall after its `expires_at`;
    stored in state "expired" (audited), never delivered, replacing nothing.
    """

    id: str
    outcome: Literal["held", "duplicate", "replaced", "expired"]
    release_at: float
    replaced_id: str | None = None
    state: State = "held"


# `InsertOutcome(...)` at half the cost (0.38 µs instead of 0.84, timeit): one per message of
# every batch a store writes (see core/frozen.py)
build_outcome: Callable[..., InsertOutcome] = frozen_builder(InsertOutcome)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail. `message_id` is None for entries about no stored message
    (e.g. an urgent override that was delivered at once)."""

    at: float
    establishment: str
    message_id: str | None
    action: AuditAction
    actor: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stats:
    """Counters for one establishment (or all when `establishment` is None).

    `held` counts messages in state "held"; `by_reason` counts held messages per reason code
    (a message with two reasons counts in both); `by_state` counts every state present.
    """

    establishment: str | None
    held: int
    by_reason: dict[str, int]
    by_state: dict[str, int]
    oldest_held_created_at: float | None
    next_release_at: float | None


@dataclass(frozen=True, slots=True)
class Rescheduled:
    """A new release time for a held message, with the reasons and decision behind it."""

    release_at: float
    reasons: tuple[str, ...] | None = None  # None: keep the stored ones
    decision: dict[str, Any] | None = None
    policy: tuple[str, str] | None = None  # (digest, JSON) decided under; None: keep the stored


@runtime_checkable
class HoldStore(Protocol):
    """What every store implements (memory, SQLite, PostgreSQL)."""

    def insert_many(
        self, messages: Sequence[HeldMessage], *, now: float
    ) -> builtins.list[InsertOutcome]:
        """Insert a batch atomically (all or nothing). Within a batch, later items see earlier
        ones (the same key twice: the second is a duplicate). Audit: "duplicate" and
        "replace" rows are written in the same transaction, actor = message.actor, at = now;
        the "hold" entry (at = now, detail: release_at, reasons) is derived from the stored
        message itself, so the hot path writes no audit row."""
        ...

    def get(self, establishment: str, message_id: str) -> HeldMessage | None:
        """The message, or None if unknown *or belonging to another establishment*."""
        ...

    def list(
        self,
        establishment: str,
        states: Iterable[State] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[HeldMessage]:
        """Messages of one establishment in insertion order (seq), optionally by state."""
        ...

    def cancel(self, establishment: str, message_id: str, actor: str | None, now: float) -> bool:
        """Held → cancelled (+ audit). False if not found, not this establishment's, or not
        held any more (claimed, released…)."""
        ...

    def stats(self, establishment: str | None = None) -> Stats: ...

    def claim_due(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[HeldMessage]:
        """Atomically take up to `limit` due messages: held with release_at <= now and
        next_attempt_at <= now, or claimed with lease_until <= now. Sets state "claimed",
        lease_until = now + lease_seconds, worker_id, attempts + 1. Ordered by
        (release_at, priority, seq). Two concurrent callers never get the same message
        while its lease runs. Returned records carry the new state.

        Whose clock: PostgreSQL judges "due" by the earlier of `now` and the database's own
        clock, so workers on several machines agree and one whose clock runs fast never
        releases early (a slow one only releases late). SQLite and memory are one-machine
        stores: `now` is the clock of the machine every worker runs on."""
        ...

    def ack(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        """Claimed by `worker_id` → released (released_at = now). The "release" audit entry
        (actor = worker_id, detail: attempts) is derived from the message row.
        Ids no longer claimed by this worker (lease taken over) are skipped.
        Returns how many were acknowledged."""
        ...

    def fail(
        self, message_id: str, worker_id: str, now: float, error: str, retry_at: float | None
    ) -> bool:
        """Claimed by `worker_id` → held again with next_attempt_at = retry_at ("failure"
        audit), or → dead when retry_at is None ("dead" audit). False if the lease was
        taken over by another worker (nothing changed)."""
        ...

    def expire(self, ids: Sequence[str], worker_id: str, now: float) -> int:
        """Claimed by `worker_id` and with `expires_at <= now` → expired ("expire" audit,
        detail: expires_at, release_at), instead of being delivered. Returns how many."""
        ...

    def give_back(self, ids: Sequence[str], worker_id: str, now: float, at: float) -> int:
        """Claimed by `worker_id`, not tried (smoothing, a recipient's earlier message
        failed…) → held again, due at `at` (never before release_at); the claim does not count
        as an attempt. A message whose collapse key is now held by a newer one becomes
        "replaced". No audit row. Returns how many were given back."""
        ...

    def release_now(
        self, establishment: str, message_id: str, actor: str | None, now: float
    ) -> bool:
        """Held → release_at = next_attempt_at = now (+ "release_now" audit). False if not
        found / not this establishment's / not held."""
        ...

    def next_due_at(self) -> float | None:
        """The earliest instant something becomes claimable (held next_attempt_at, or a
        claimed lease_until), None if nothing is pending."""
        ...

    def count_due(self, now: float) -> int:
        """How many messages are claimable at `now` (held and due, or claimed with an expired
        lease): the backlog a worker spreads when smoothing."""
        ...

    def reschedule(
        self,
        establishment: str,
        fn: Callable[[HeldMessage], float | Rescheduled],
        *,
        actor: str | None = None,
        now: float,
    ) -> int:
        """Recompute release_at of every *held* message of the establishment with `fn`;
        claimed, released and other states are never touched. A changed message gets a
        "reschedule" audit row (detail: from, to, and policy when that changed); a
        `Rescheduled.policy` is recorded (as `record_policies`) and becomes the message's, in
        the same transaction. Returns how many changed."""
        ...

    def append_audit(self, entries: Sequence[AuditEntry]) -> None: ...

    def record_policies(self, policies: Mapping[str, str]) -> None:
        """Keep each policy's canonical JSON under its digest (a digest already known is left
        as it is: equal digests, equal texts). Held messages name theirs in `policy`."""
        ...

    def recorded_policy(self, digest: str) -> str | None:
        """The JSON of a recorded policy, None if unknown."""
        ...

    def held_policies(self, establishment: str) -> dict[str | None, int]:
        """How many held messages of the establishment were decided under each policy digest
        (None: no policy recorded)."""
        ...

    def audit(
        self,
        establishment: str,
        since: float | None = None,
        limit: int = 1000,
        message_id: str | None = None,
    ) -> builtins.list[AuditEntry]:
        """Audit entries of one establishment, oldest first. Ties on `at`: derived "hold"
        entries (message insertion order), then written entries (insertion order), then
        derived "release" entries."""
        ...

    def establishments_with_held(self) -> builtins.list[str]:
        """Sorted keys of establishments having at least one held message."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to `timeout` seconds until something may have become due sooner (insert,
        release_now, retry scheduled). True if woken, False on timeout. In-process wake-ups
        for memory/SQLite (another process writing SQLite is only seen at the timeout:
        callers keep a bounded poll); LISTEN/NOTIFY on PostgreSQL. `close()` wakes waiters."""
        ...

    def close(self) -> None: ...
