"""HeldRows: messages kept as field tuples, built as HeldMessage only when read."""

from __future__ import annotations

from deconnexion.store.base import HeldMessage, HeldRows, held_fields, rows_of


def _message(n: int) -> HeldMessage:
    return HeldMessage(
        f"{n:032x}", "0750001A", f"key-{n}", None, "grade", "parents", "teacher", False, 2,
        ("parent:1",), b"{}", "application/json", {}, 1.0, 2.0, 2.0, ("night",), {},
    )  # fmt: skip


def test_held_rows_read_as_the_messages_they_were_made_from() -> None:
    messages = [_message(n) for n in range(3)]
    rows = HeldRows([held_fields(m) for m in messages])
    assert len(rows) == 3
    assert list(rows) == messages
    assert rows[1] == messages[1] and rows[-1] == messages[2]
    assert rows[1:] == messages[1:]
    assert rows[0] is rows[0]  # built once, not at each read


def test_rows_of_takes_held_rows_as_they_are_and_reads_messages_field_by_field() -> None:
    messages = [_message(n) for n in range(2)]
    tuples = [held_fields(m) for m in messages]
    held = HeldRows(tuples)
    assert rows_of(held) is tuples
    assert rows_of(messages) == tuples
    assert held._built is None  # the SQLite store never builds them
