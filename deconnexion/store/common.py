"""Pieces every store shares: audit rows, reschedule results, named SQL blocks, wake-ups."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from deconnexion.store.base import AuditEntry, HeldMessage, Rescheduled, build_held
from deconnexion.store.claimed import ClaimedMessage
from deconnexion.store.codec import dicts_decoder, strings_decoder

__all__ = [
    "CLAIMED",
    "CLAIMED_HEAD",
    "COLUMNS",
    "AuditSort",
    "ClaimedSeqs",
    "Waker",
    "as_rescheduled",
    "audit_for_fail",
    "claim_params",
    "decode_claimed",
    "decode_many",
    "derived_hold",
    "derived_release",
    "expire_entry",
    "fail_entries",
    "load_queries",
    "plan_reschedule",
    "sorted_counts",
    "statements",
]


def as_rescheduled(value: float | Rescheduled) -> Rescheduled:
    """Accept a bare release time (epoch) or a full `Rescheduled` from a reschedule callback."""
    if isinstance(value, Rescheduled):
        reasons = None if value.reasons is None else tuple(value.reasons)
        return Rescheduled(float(value.release_at), reasons, value.decision, value.policy)
    return Rescheduled(float(value))


def claim_params(now: float, limit: int, lease_seconds: float, worker_id: str) -> dict[str, Any]:
    """The named parameters of a SQL store's claim statements (`claim_due`, `claim_release`)."""
    return {
        "now": now,
        "limit": int(limit),
        "lease_until": now + lease_seconds,
        "worker_id": worker_id,
    }


def plan_reschedule(
    rows: Iterable[HeldMessage],
    fn: Callable[[HeldMessage], float | Rescheduled],
    *,
    establishment: str,
    actor: str | None,
    now: float,
) -> tuple[list[HeldMessage], list[AuditEntry], dict[str, str]]:
    """The held rows `fn` moves, as they become, with their audit entries and the policies
    they are now decided under (digest → JSON, to record). A row whose new release falls
    after its `expires_at` becomes "expired" ("expire" audit). A row waiting for a retry keeps its
    retry time unless the new release is later. Nothing is written here: a store applies all
    of it in one transaction, or nothing if `fn` raised."""
    changed: list[HeldMessage] = []
    audit: list[AuditEntry] = []
    policies: dict[str, str] = {}
    for row in rows:
        new = as_rescheduled(fn(row))
        policy = row.policy if new.policy is None else new.policy[0]
        if new.policy is not None:
            policies[new.policy[0]] = new.policy[1]
        if (
            new.release_at == row.release_at
            and new.reasons in (None, row.reasons)
            and policy == row.policy
        ):
            continue
        expires = row.expires_at is not None and new.release_at > row.expires_at
        retry = row.next_attempt_at if row.next_attempt_at != row.release_at else 0.0
        changed.append(
            replace(
                row,
                release_at=new.release_at,
                next_attempt_at=max(new.release_at, retry),
                reasons=row.reasons if new.reasons is None else tuple(new.reasons),
                decision=row.decision if new.decision is None else new.decision,
                policy=policy,
                state="expired" if expires else row.state,
            )
        )
        detail: dict[str, object] = {"from": row.release_at, "to": new.release_at}
        if policy != row.policy:
            detail["policy"] = policy
        audit.append(AuditEntry(now, establishment, row.id, "reschedule", actor, detail))
        if expires:
            late = {"expires_at": row.expires_at, "release_at": new.release_at}
            audit.append(AuditEntry(now, establishment, row.id, "expire", actor, late))
    return changed, audit, policies


def expire_entry(row: HeldMessage, actor: str | None, now: float) -> AuditEntry:
    """The "expire" row of a message not delivered because it lost its meaning."""
    detail = {"expires_at": row.expires_at, "release_at": row.release_at}
    return AuditEntry(now, row.establishment, row.id, "expire", actor, detail)


def fail_entries(
    establishment: str,
    message_id: str,
    attempts: int,
    state: str,
    worker_id: str,
    now: float,
    error: str,
    retry_at: float | None,
) -> list[AuditEntry]:
    """Audit rows for a failed attempt; `state` is the message's state afterwards."""
    out = [audit_for_fail(establishment, message_id, attempts, worker_id, now, error, retry_at)]
    if state == "replaced":
        detail = {"reason": "a newer message with the same collapse key is held"}
        out.append(AuditEntry(now, establishment, message_id, "replace", worker_id, detail))
    return out


def audit_for_fail(
    establishment: str,
    message_id: str,
    attempts: int,
    worker_id: str,
    now: float,
    error: str,
    retry_at: float | None,
) -> AuditEntry:
    """A "failure" row (will be retried at `retry_at`) or a "dead" row (retry_at None)."""
    if retry_at is None:
        detail: dict[str, object] = {"error": error, "attempts": attempts}
        return AuditEntry(now, establishment, message_id, "dead", worker_id, detail)
    detail = {"error": error, "attempts": attempts, "retry_at": retry_at}
    return AuditEntry(now, establishment, message_id, "failure", worker_id, detail)


AuditSort = tuple[float, int, int]  # (at, source, n): holds 0, audit table 1, releases 2


def derived_hold(
    establishment: str,
    message_id: str,
    actor: str | None,
    held_at: float,
    held_release_at: float,
    reasons: tuple[str, ...],
) -> AuditEntry:
    """The "hold" entry every store derives from a stored message (not written separately)."""
    detail = {"release_at": held_release_at, "reasons": list(reasons)}
    return AuditEntry(held_at, establishment, message_id, "hold", actor, detail)


def derived_release(
    establishment: str, message_id: str, worker_id: str | None, released_at: float, attempts: int
) -> AuditEntry:
    """The "release" entry derived from a released message."""
    detail = {"attempts": attempts}
    return AuditEntry(released_at, establishment, message_id, "release", worker_id, detail)


def sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


# -- named SQL blocks -------------------------------------------------------------------------

COLUMNS = (
    "id",
    "establishment",
    "idempotency_key",
    "collapse_key",
    "kind",
    "audience",
    "sender_role",
    "urgent",
    "priority",
    "recipients",
    "payload",
    "content_type",
    "meta",
    "created_at",
    "release_at",
    "next_attempt_at",
    "reasons",
    "decision",
    "state",
    "attempts",
    "lease_until",
    "worker_id",
    "last_error",
    "released_at",
    "seq",
    "actor",
    "justification",
    "publish_to_students_at",
    "key_scope",
    "policy",
    "expires_at",
)  # HeldMessage's field order: rows are read positionally


def load_queries(filename: str, **subs: str) -> dict[str, str]:
    """Read `-- name: x` blocks from a .sql file next to this module.

    `{columns}` becomes the HeldMessage column list; other `{placeholders}` come from `subs`
    (identifiers only, already quoted by the caller, never values).
    """
    text = (Path(__file__).parent / filename).read_text(encoding="utf-8")
    subs = {"columns": ", ".join(COLUMNS), **subs}
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in [*text.splitlines(), "-- name: <end>"]:
        if line.startswith("-- name: "):
            if name is not None:
                queries[name] = "\n".join(lines).strip().format(**subs)
            name, lines = line.removeprefix("-- name: ").strip(), []
        elif name is not None:
            lines.append(line)
    return queries


def statements(block: str) -> list[str]:
    """Split a schema block into statements (each ends with `;` at the end of a line)."""
    return [s.strip() for s in block.split(";\n") if s.strip().rstrip(";").strip()]


# -- in-process wake-ups ----------------------------------------------------------------------


class Waker:
    """A generation counter with a condition: writers `notify()`, a waiter waits until the
    generation moves past the one it last saw. Shared by stores opened on the same file."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._gen = 0

    @property
    def generation(self) -> int:
        return self._gen

    def notify(self) -> None:
        with self._cond:
            self._gen += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self._gen != seen, max(0.0, timeout))
            return self._gen


class ClaimedSeqs:
    """The `seq` of each message a store object claimed and has not settled yet, by id: its
    `ack` finds those rows by the integer primary key instead of the unique index on the
    32-character id (what it buys on each dialect: see `SQLiteStore.ack`, `PostgresStore.ack`).

    A message's seq is its row's primary key, given at insert and never changed, and the ack
    still checks the worker and the lease: an entry is never wrong, at worst unused (a message
    given back, failed, or whose lease expired and was claimed again elsewhere). Bounded: when
    it holds `LIMIT` ids (claims never settled) it starts again empty, and an id it does not
    know is looked up by id as before. Safe to share between a worker's threads."""

    LIMIT = 100_000

    __slots__ = ("_lock", "_seqs")

    def __init__(self) -> None:
        self._seqs: dict[str, int] = {}
        self._lock = threading.Lock()

    def remember(self, messages: Iterable[HeldMessage | ClaimedMessage]) -> None:
        """Note the seqs of messages just claimed."""
        with self._lock:
            if len(self._seqs) >= self.LIMIT:
                self._seqs.clear()
            self._seqs.update([(m.id, m.seq) for m in messages])

    def take(self, ids: Iterable[str]) -> tuple[list[int], list[str]]:
        """(the seqs of the ids it knows, forgotten now; the ids it does not know)."""
        seqs: list[int] = []
        unknown: list[str] = []
        with self._lock:
            pop = self._seqs.pop
            for i in ids:
                seq = pop(i, None)
                if seq is None:
                    unknown.append(i)
                else:
                    seqs.append(seq)
        return seqs, unknown

    def forget(self, ids: Iterable[str]) -> None:
        """Drop the ids settled otherwise (failed, given back, expired)."""
        with self._lock:
            for i in ids:
                self._seqs.pop(i, None)


def decode_many(rows: Iterable[Sequence[Any]]) -> list[HeldMessage]:
    """Decode rows read in `COLUMNS` order with their JSON columns as text: SQLite's, and a
    PostgreSQL claim's (read in binary, jsonb as text). Lists of ids and codes become tuples;
    a batch shares its reasons and often its decision, so each distinct text is parsed once
    (`codec`'s decoders); dicts are never shared. `urgent` may come as 0/1 (SQLite)."""
    strings = strings_decoder()
    dicts = dicts_decoder()
    out = []
    for r in rows:
        (
            id_, establishment, key, collapse_key, kind, audience, sender_role, urgent,
            priority, recipients, payload, content_type, meta, created_at, release_at,
            next_attempt_at, reasons, decision, state, attempts, lease_until, worker_id,
            last_error, released_at, seq, actor, justification, publish, key_scope, policy,
            expires_at,
        ) = r  # fmt: skip
        out.append(
            build_held(
                id_,
                establishment,
                key,
                collapse_key,
                kind,
                audience,
                sender_role,
                bool(urgent),
                priority,
                strings(recipients),
                payload,
                content_type,
                dicts(meta),
                created_at,
                release_at,
                next_attempt_at,
                strings(reasons),
                dicts(decision),
                state,
                attempts,
                lease_until,
                worker_id,
                last_error,
                released_at,
                seq,
                actor,
                justification,
                publish,
                key_scope,
                policy,
                expires_at,
            )
        )
    return out


# The columns a claim returns (sqlite.sql and postgres.sql claim_due, claim_held), in this
# order: the claim order first, so that the returned tuples sort into it by themselves. Not
# returned: what the claim itself sets (state, lease_until, worker_id) and released_at, empty
# on every claimable row (only `ack` writes it, and a released message is never claimed).
CLAIMED_HEAD = (
    "release_at",
    "priority",
    "seq",
    "id",
    "establishment",
    "idempotency_key",
    "collapse_key",
    "kind",
    "audience",
    "sender_role",
    "urgent",
    "recipients",
    "content_type",
    "created_at",
    "next_attempt_at",
    "reasons",
    "attempts",
    "last_error",
    "actor",
    "justification",
    "publish_to_students_at",
    "key_scope",
    "policy",
    "expires_at",
)  # the `held` table's
CLAIMED = (*CLAIMED_HEAD, "payload", "meta", "decision")  # then `held_body`'s


def decode_claimed(
    rows: list[tuple[Any, ...]], lease_until: float, worker_id: str
) -> list[HeldMessage]:
    """The messages of one claim in claim order (release_at, priority, seq), from the rows
    its UPDATE returned in `CLAIMED` order (sorted here, in place), the JSON columns as text.

    What it buys (callgrind, the worker releasing benchmarks/queue.py's backlog): the claimed
    rows are read once, by the UPDATE that changes them, instead of again by a query that
    sorts them, and the four values the claim set are not read at all; the tuples sort by
    plain tuple comparison (their first three values, seq being unique), no key function
    per row. The decoding is `decode_many`'s."""
    rows.sort()
    strings = strings_decoder()
    dicts = dicts_decoder()
    out = []
    for r in rows:
        (
            release_at, priority, seq, id_, establishment, key, collapse_key, kind, audience,
            sender_role, urgent, recipients, content_type, created_at, next_attempt_at, reasons,
            attempts, last_error, actor, justification, publish, key_scope, policy, expires_at,
            payload, meta, decision,
        ) = r  # fmt: skip
        out.append(
            build_held(
                id_,
                establishment,
                key,
                collapse_key,
                kind,
                audience,
                sender_role,
                bool(urgent),
                priority,
                strings(recipients),
                payload,
                content_type,
                dicts(meta),
                created_at,
                release_at,
                next_attempt_at,
                strings(reasons),
                dicts(decision),
                "claimed",
                attempts,
                lease_until,
                worker_id,
                last_error,
                None,  # released_at
                seq,
                actor,
                justification,
                publish,
                key_scope,
                policy,
                expires_at,
            )
        )
    return out
