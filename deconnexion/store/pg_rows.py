"""Rows of the PostgreSQL store as psycopg writes and reads them: the COPY rows of a batch,
a row read by `get` decoded into a `HeldMessage` (a claimed one: `store.common.decode_many`),
and the JSON loader of its connections."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from typing import Any

from deconnexion.store.base import HeldFields, HeldMessage, build_held
from deconnexion.store.codec import write_encoder
from deconnexion.store.common import COLUMNS

__all__ = [
    "BODY_TYPES",
    "HELD_TYPES",
    "copy_rows",
    "decode_held",
    "load_json",
]

# COPY ... (FORMAT BINARY) carries no types: the server reads each field with its column's
# binary input, and psycopg must be told what to write (`Copy.set_types`), in the order of
# the COPY's column list (postgres.sql copy_held, copy_body). A jsonb field's binary form is
# a version byte (1) then the JSON text: `copy_rows` writes it as those bytes ("bytea": raw).
_JSONB = "bytea"
HELD_TYPES = (
    "int8", "text", "text", "text", "text", "text", "text", "text", "bool", "int2", _JSONB,
    "text", "float8", "float8", "float8", _JSONB, "text", "text", "text", "float8", "float8",
    "float8", "text", "text", "float8",
)  # fmt: skip
BODY_TYPES = ("int8", "bytea", _JSONB, _JSONB)
_JSONB_VERSION = b"\x01"


def _jsonb(text: str) -> bytes:
    return _JSONB_VERSION + text.encode()


_decode_json = json.JSONDecoder().decode  # built once: json.loads(str) without its checks


def load_json(data: str | bytes) -> Any:
    """jsonb columns as Python values (psycopg's `set_json_loads` on the store's connections).

    psycopg hands `json.loads` bytes, and `json.loads` then detects the encoding in Python
    before it decodes: most of its cost on the one-string lists (recipients, reasons) a
    message carries. PostgreSQL always sends UTF-8 (the client encoding psycopg sets)."""
    return _decode_json(data if isinstance(data, str) else data.decode())


def copy_rows(
    rows: Sequence[HeldFields], states: Iterable[str], seqs: Sequence[int], now: float
) -> tuple[builtins.list[tuple[Any, ...]], builtins.list[tuple[Any, ...]]]:
    """Rows for binary COPY into held and held_body (`HELD_TYPES`, `BODY_TYPES`) from
    `HeldMessage` field tuples; the server parses the JSON columns' text."""
    enc = write_encoder()
    heads = []
    bodies = []
    # a batch often shares one reasons tuple, meta and decision between consecutive rows:
    # each is encoded again only when the row's object is not the row before's (about 3,000
    # instructions less per row of a batch sharing them, callgrind)
    last: list[Any] = [None, None, None]
    texts: list[bytes] = [b"", b"", b""]
    for seq, row, state in zip(seqs, rows, states, strict=False):  # states may be endless
        (
            id_, establishment, key, collapse_key, kind, audience, sender_role, urgent,
            priority, recipients, payload, content_type, meta, created_at, release_at,
            next_attempt_at, reasons, decision, _state, _attempts, _lease_until, _worker_id,
            _last_error, _released_at, _seq, actor, justification, publish, key_scope, policy,
            expires_at,
        ) = row  # fmt: skip
        if reasons is not last[0]:
            last[0], texts[0] = reasons, _jsonb(enc(reasons))
        if meta is not last[1]:
            last[1], texts[1] = meta, _jsonb(enc(meta))
        if decision is not last[2]:
            last[2], texts[2] = decision, _jsonb(enc(decision))
        heads.append(
            (
                seq,
                id_,
                establishment,
                key,
                collapse_key,
                kind,
                audience,
                sender_role,
                urgent,
                priority,
                _jsonb(enc(recipients)),
                content_type,
                created_at,
                release_at,
                next_attempt_at,
                texts[0],
                state,
                actor,
                justification,
                publish,
                now,
                release_at,
                key_scope,
                policy,
                expires_at,
            )
        )
        bodies.append((seq, payload, texts[1], texts[2]))
    return heads, bodies


# A row comes back in HeldMessage's field order; these fields come back as other types
# (JSON lists as lists, bytea as bytes or a memoryview).
_RECIPIENTS, _PAYLOAD = COLUMNS.index("recipients"), COLUMNS.index("payload")
_REASONS = COLUMNS.index("reasons")


def decode_held(r: Sequence[Any]) -> HeldMessage:
    v = builtins.list(r)
    v[_RECIPIENTS] = tuple(v[_RECIPIENTS])
    v[_PAYLOAD] = bytes(v[_PAYLOAD])
    v[_REASONS] = tuple(v[_REASONS])
    return build_held(*v)
