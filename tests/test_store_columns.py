"""Rows are `HeldMessage` field values in field order: the stores' `COLUMNS`, `build_row` and
the decoders that name positions (`COLUMNS.index("payload")`) all rely on it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from deconnexion import Establishment, HoldRequest, Message, Policy, Scheduler
from deconnexion.hold.request import CheckedInputs, build_row
from deconnexion.store.base import HeldMessage
from deconnexion.store.common import COLUMNS


def test_the_store_columns_are_the_held_message_fields_in_order():
    assert tuple(COLUMNS) == tuple(f.name for f in fields(HeldMessage))


def test_a_built_row_puts_each_value_under_its_field_name():
    where = Establishment(uai="0750001A")
    message = Message(
        kind="homework", audience="students", created_at=datetime(2025, 11, 14, 22, tzinfo=UTC)
    )
    decision = Scheduler(Policy.national(), where).decide(message)
    request = HoldRequest(
        where, message, decision, {"a": 1}, "key-1", recipients=("class:4B",), actor="prof:1"
    )
    row, _ = build_row(request, CheckedInputs())
    held = dict(zip(COLUMNS, row, strict=True))
    assert held["establishment"] == "0750001A"
    assert held["idempotency_key"] == "key-1"
    assert held["recipients"] == ("class:4B",)
    assert held["payload"] == b'{"a":1}'
    assert held["actor"] == "prof:1"
    assert held["release_at"] == decision.release_at.timestamp() == held["next_attempt_at"]
    assert held["state"] == "held" and held["attempts"] == 0
