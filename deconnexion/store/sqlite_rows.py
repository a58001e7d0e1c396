"""The rows of the SQLite store: `HeldMessage` fields to the `held` and `held_body` rows it
writes, grouped so that no None is ever bound (`NullFreeRows`); rows read back are decoded by
`store.common.decode_many` (a claim's: `store.common.decode_claimed`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from deconnexion.store.base import PENDING, HeldFields
from deconnexion.store.codec import JSONDict, write_encoder

__all__ = [
    "HEAD",
    "OPTIONAL",
    "InsertStatements",
    "NullFreeRows",
    "insert_statements",
]

# The columns of a `held` row as `insert_held` writes them (sqlite.sql), in this order.
HEAD = (
    "seq",
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
    "content_type",
    "created_at",
    "release_at",
    "next_attempt_at",
    "reasons",
    "state",
    "pending",
    "actor",
    "justification",
    "publish_to_students_at",
    "held_at",
    "held_release_at",
    "key_scope",
    "policy",
    "expires_at",
)
# The columns of HEAD a message may leave empty (None), in HEAD's order.
OPTIONAL = (
    "collapse_key",
    "actor",
    "justification",
    "publish_to_students_at",
    "key_scope",
    "policy",
    "expires_at",
)
Empty = tuple[bool, ...]  # for each OPTIONAL column: is it None in this row
Pick = Callable[[tuple[Any, ...]], Any]  # a HEAD row → the values its statement binds
InsertStatements = dict[Empty, tuple[str, Pick]]


def insert_statements(template: str) -> InsertStatements:
    """`insert_held` (its `{values}` to fill) for every combination of empty optional columns
    (2**7 short strings, built once at import), with what picks the values each binds."""
    out: InsertStatements = {}
    for empty in itertools.product((False, True), repeat=len(OPTIONAL)):
        nulls = {c for c, e in zip(OPTIONAL, empty, strict=True) if e}
        values = ", ".join("NULL" if c in nulls else "?" for c in HEAD)
        pick = itemgetter(*(n for n, c in enumerate(HEAD) if c not in nulls))
        out[empty] = (template.format(values=values), pick)
    return out


class NullFreeRows:
    """The `held` and `held_body` rows of one write, the `held` rows grouped by which optional
    columns they leave empty: each group is written by an INSERT that says NULL for those
    columns in its SQL, so no None is ever bound.

    What it buys (callgrind, 20,000 held messages): the sqlite3 module binds None (and bytes,
    and bool) through its adapter protocol, which looks up `__adapt__` and `__conform__` and
    formats an AttributeError for each failed lookup, about 3,500 instructions per value where
    a str or a float costs a few hundred. A common message leaves 6 of the 7 optional columns
    empty: binding those Nones and the payload's bytes was a quarter of the INSERTs'
    instructions. The payload is bound as a `bytearray` (same BLOB, no adapter lookup)."""

    def __init__(
        self,
        statements: InsertStatements,
        rows: Sequence[HeldFields],
        states: Iterable[str],
        first_seq: int,
        now: float,
    ) -> None:
        """Rows from `HeldMessage` field tuples; seq numbers from `first_seq` on."""
        self._statements = statements
        self.heads: dict[Empty, list[tuple[Any, ...]]] = {}
        self.bodies: list[tuple[Any, ...]] = []
        enc = write_encoder()
        heads = self.heads
        bodies = self.bodies
        # the texts a row's JSON columns already carry (`JSONDict`) or share with the row
        # before (a batch's one reasons tuple) are read without calling `enc`: a Python call
        # per column, 4 of them per row
        last_reasons: Any = None
        reasons_text = ""
        for seq, row, state in zip(itertools.count(first_seq), rows, states):
            (
                id_, establishment, key, collapse_key, kind, audience, sender_role, urgent,
                priority, recipients, payload, content_type, meta, created_at, release_at,
                next_attempt_at, reasons, decision, _state, _attempts, _lease_until, _worker_id,
                _last_error, _released_at, _seq, actor, justification, publish, key_scope,
                policy, expires_at,
            ) = row  # fmt: skip
            empty = (
                collapse_key is None,
                actor is None,
                justification is None,
                publish is None,
                key_scope is None,
                policy is None,
                expires_at is None,
            )  # OPTIONAL's order
            if reasons is not last_reasons:
                last_reasons, reasons_text = reasons, enc(reasons)
            group = heads.get(empty)
            if group is None:
                group = heads[empty] = []
            group.append(
                (
                    seq,
                    id_,
                    establishment,
                    key,
                    collapse_key,
                    kind,
                    audience,
                    sender_role,
                    1 if urgent else 0,
                    priority,
                    enc(recipients),
                    content_type,
                    created_at,
                    release_at,
                    next_attempt_at,
                    reasons_text,
                    state,
                    1 if state in PENDING else 0,  # held_key's WHERE (schema_v5)
                    actor,
                    justification,
                    publish,
                    now,
                    release_at,
                    key_scope,
                    policy,
                    expires_at,
                )  # HEAD's order
            )
            bodies.append(
                (
                    seq,
                    bytearray(payload),
                    meta.text if meta.__class__ is JSONDict else (enc(meta) if meta else "{}"),
                    decision.text if decision.__class__ is JSONDict else enc(decision),
                )
            )

    def inserts(self) -> Iterator[tuple[str, Iterable[tuple[Any, ...]]]]:
        """(statement, its rows) for each group of `held` rows."""
        for empty, rows in self.heads.items():
            sql, pick = self._statements[empty]
            yield sql, map(pick, rows)
