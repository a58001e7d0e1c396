"""The release worker's claim: a message as the release reads it, and the stores' way to claim it.

`claim_due` returns whole `HeldMessage`s (31 fields, the decision as a dict). The release reads
19 of them and, of the decision, only its time zone: `claim_release` (same claim, same rows
changed, same order) returns `ClaimedMessage`s with just those, so that the store reads, sends
and decodes a third less per released message. Every bundled store has it (`ReleaseClaims`);
the worker falls back to `claim_due` and `claimed_of` for a store that has not.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from deconnexion.core.frozen import frozen_builder
from deconnexion.store.base import HeldMessage
from deconnexion.store.codec import dicts_decoder, strings_decoder

__all__ = [
    "RELEASE_HEAD",
    "ClaimedMessage",
    "ReleaseClaims",
    "build_claimed",
    "claimed_of",
    "decision_zone",
    "decode_release",
    "release_claims",
    "zone_reader",
]


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A claimed message as the release worker reads it: `HeldMessage`'s fields of the same
    names, after the claim (`attempts` counts it), and `timezone`, the time zone recorded in
    the message's decision (None when none is, or it is not a non-empty string)."""

    id: str
    seq: int
    establishment: str
    idempotency_key: str
    kind: str
    audience: str
    urgent: bool
    priority: int
    recipients: tuple[str, ...]
    payload: bytes
    content_type: str
    meta: dict[str, Any]
    created_at: float
    release_at: float
    reasons: tuple[str, ...]
    attempts: int
    policy: str | None
    expires_at: float | None
    timezone: str | None


# `ClaimedMessage(...)` through its mutable twin (core/frozen.py): one per released message
build_claimed: Callable[..., ClaimedMessage] = frozen_builder(ClaimedMessage)


def decision_zone(decision: object) -> str | None:
    """The time zone name a decision records, None when it records none (or what is there is
    not a non-empty string: a decision not written by this library must not break the batch
    it was claimed with)."""
    name = decision.get("timezone") if isinstance(decision, dict) else None
    return name if isinstance(name, str) and name else None


def claimed_of(m: HeldMessage) -> ClaimedMessage:
    """The `ClaimedMessage` of a claimed `HeldMessage` (the memory store's claim, and a store
    without `claim_release`)."""
    return build_claimed(
        m.id,
        m.seq,
        m.establishment,
        m.idempotency_key,
        m.kind,
        m.audience,
        m.urgent,
        m.priority,
        m.recipients,
        m.payload,
        m.content_type,
        m.meta,
        m.created_at,
        m.release_at,
        m.reasons,
        m.attempts,
        m.policy,
        m.expires_at,
        decision_zone(m.decision),
    )


@runtime_checkable
class ReleaseClaims(Protocol):
    """A store that claims for the release worker (every bundled store)."""

    def claim_release(
        self, now: float, limit: int, lease_seconds: float, worker_id: str
    ) -> builtins.list[ClaimedMessage]:
        """`claim_due(now, limit, lease_seconds, worker_id)`, each message returned as the
        `ClaimedMessage` of what `claim_due` would have returned, in the same order."""
        ...


# The columns a SQL store's claim_release reads from `held` (postgres.sql claim_due's
# RETURNING, sqlite.sql release_rows), then `payload, meta` and the decision (its JSON text on
# SQLite, its time zone on PostgreSQL). The claim order first, so that the rows sort into it
# by plain tuple comparison (seq is unique), as in `common.decode_claimed`.
RELEASE_HEAD = (
    "release_at",
    "priority",
    "seq",
    "id",
    "establishment",
    "idempotency_key",
    "kind",
    "audience",
    "urgent",
    "recipients",
    "content_type",
    "created_at",
    "reasons",
    "attempts",
    "policy",
    "expires_at",
)


def zone_reader() -> Callable[[str], str | None]:
    """`decision_zone` of a decision's JSON text, each distinct text parsed once (a batch
    mostly shares its decision: one backlog, one decision)."""
    decode = dicts_decoder()
    seen: dict[str, str | None] = {}

    def read(text: str) -> str | None:
        try:
            return seen[text]
        except KeyError:
            found = seen[text] = decision_zone(decode(text))
            return found

    return read


def decode_release(
    rows: builtins.list[tuple[Any, ...]], zone_of: Callable[[Any], str | None] | None
) -> builtins.list[ClaimedMessage]:
    """The messages of one claim in claim order, from its rows read in `RELEASE_HEAD`
    order followed by payload, meta and the decision (sorted here, in place).
    `zone_of` turns the decision column into its time zone (None: it is one already, or
    NULL). Lists of strings are JSON text, decoded once per distinct text; `urgent` may be
    0/1 (SQLite)."""
    rows.sort()
    strings = strings_decoder()
    dicts = dicts_decoder()
    out: builtins.list[ClaimedMessage] = []
    append = out.append
    for r in rows:
        (
            release_at, priority, seq, id_, establishment, key, kind, audience, urgent,
            recipients, content_type, created_at, reasons, attempts, policy, expires_at,
            payload, meta, decision,
        ) = r  # fmt: skip
        append(
            build_claimed(
                id_,
                seq,
                establishment,
                key,
                kind,
                audience,
                bool(urgent),
                priority,
                strings(recipients),
                payload,
                content_type,
                dicts(meta),
                created_at,
                release_at,
                strings(reasons),
                attempts,
                policy,
                expires_at,
                decision if zone_of is None else zone_of(decision),
            )
        )
    return out


def release_claims(messages: Sequence[HeldMessage]) -> builtins.list[ClaimedMessage]:
    """`claimed_of` each message of a claim, in order."""
    return [claimed_of(m) for m in messages]
