"""The SQLite store's rows (`deconnexion.store.sqlite_rows`): no None and no bytes are ever
bound (the sqlite3 module binds those through its slow adapter lookups), yet each column gets
its value or NULL."""

from __future__ import annotations

import itertools
from dataclasses import replace

from deconnexion.store.base import HeldMessage, held_fields
from deconnexion.store.sqlite import INSERTS
from deconnexion.store.sqlite_rows import HEAD, OPTIONAL, NullFreeRows


def _message(**fields: object) -> HeldMessage:
    base = HeldMessage(
        "0" * 32, "0750001A", "k", None, "grade", "parents", "teacher", False, 2, ("p:1",),
        b"{}", "application/json", {}, 1.0, 2.0, 2.0, ("night",), {"held": True},
    )  # fmt: skip
    return replace(base, **fields)


def test_rows_leaving_other_optional_columns_empty_go_to_statements_naming_null_for_them():
    messages = [_message(key_scope=None), _message(actor="a", expires_at=9.0), _message()]
    rows = NullFreeRows(
        INSERTS, [held_fields(m) for m in messages], itertools.repeat("held"), 1, 0.0
    )
    written = [(sql, list(heads)) for sql, heads in rows.inserts()]
    assert len(written) == 3  # three combinations of empty columns
    values = [sql.split(" VALUES ")[1] for sql, _ in written]
    for placeholders, (_, heads) in zip(values, written, strict=True):
        assert all(v is not None for head in heads for v in head)
        assert placeholders.count("?") == len(heads[0]) == len(HEAD) - placeholders.count("NULL")
    assert values[0].count("NULL") == len(OPTIONAL)  # everything empty, key_scope too
    assert [type(body[1]) for body in rows.bodies] == [bytearray] * 3
