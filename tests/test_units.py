"""Claimed batch → delivery units: digests, per-recipient chains, back-off, send deadlines."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from _release_support import T0
from _release_support import held as held_message
from hypothesis import given
from hypothesis import strategies as st

from deconnexion.release.units import (
    advance,
    backoff_delay,
    build_units,
    chains,
    send_deadline,
    single_delivery,
)
from deconnexion.store.claimed import ClaimedMessage, claimed_of


def held(key: str, **fields: Any) -> ClaimedMessage:
    """`_release_support.held`, as a claim hands it to the release."""
    return claimed_of(held_message(key, **fields))


def test_a_single_message_becomes_a_delivery_with_its_key_and_local_release_time() -> None:
    m = held("k1", release_at=T0, recipients=("parent:1", "parent:2"))
    d = single_delivery(m)
    assert (d.idempotency_key, d.recipients, d.ids, d.kinds) == (
        "k1",
        ("parent:1", "parent:2"),
        (m.id,),
        ("grade",),
    )
    assert d.release_at.isoformat() == "2025-11-03T07:00:00+01:00"
    assert not d.digest


def test_digests_merge_runs_of_one_recipient_but_not_across_a_shared_message() -> None:
    a1, a2 = held("a1", recipients=("a",)), held("a2", recipients=("a",))
    shared = held("ab", recipients=("a", "b"))
    a3, b1 = held("a3", recipients=("a",)), held("b1", recipients=("b",))
    units = build_units([a1, a2, shared, a3, b1], digest=True)
    assert [[m.idempotency_key for m in u.messages] for u in units] == [
        ["a1", "a2"],
        ["ab"],
        ["a3"],
        ["b1"],
    ]
    first = units[0].delivery
    assert first.digest and first.ids == (a1.id, a2.id)
    assert json.loads(first.payload)["count"] == 2
    assert first.idempotency_key.startswith("digest:")


def test_without_digests_every_message_is_its_own_unit() -> None:
    msgs = [held(f"k{i}", recipients=("a",)) for i in range(3)]
    assert [len(u.messages) for u in build_units(msgs, digest=False)] == [1, 1, 1]


def test_chains_group_units_sharing_a_recipient_in_order() -> None:
    assert chains([("a",), ("b",), ("a",), ("c",)]) == [[0, 2], [1], [3]]
    assert chains([("a",), ("b",), ("a", "b"), ("c",)]) == [[0, 1, 2], [3]]


@given(st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=3), max_size=30))
def test_chains_partition_indices_and_never_split_a_recipient(keys: list[list[str]]) -> None:
    groups = chains(keys)
    assert sorted(i for g in groups for i in g) == list(range(len(keys)))
    assert all(g == sorted(g) for g in groups)
    where = {i: n for n, g in enumerate(groups) for i in g}
    for r in "abcdef":
        assert len({where[i] for i, ks in enumerate(keys) if r in ks}) <= 1


def test_back_off_doubles_is_capped_and_jitter_stays_within_ten_percent() -> None:
    delays = [backoff_delay(n, base=2, cap=3600, key="m") for n in range(1, 14)]
    for n, d in enumerate(delays, start=1):
        exact = min(3600, 2**n)
        assert exact <= d <= min(3600, exact * 1.1)
    assert delays[-1] == 3600
    assert backoff_delay(3, base=2, cap=3600, key="m") == backoff_delay(
        3, base=2, cap=3600, key="m"
    )


def test_send_deadline_only_bounds_messages_released_inside_an_open_window() -> None:
    (opening,) = build_units([held("w", reasons=("weekend",))], digest=False)
    (inside,) = build_units([held("g", reasons=("grade_parent_delay",))], digest=False)
    (recorded,) = build_units([held("r", meta={"open_until": T0 + 600})], digest=False)
    assert send_deadline(opening) is None
    assert send_deadline(inside) == T0
    assert send_deadline(recorded) == T0 + 599


def test_advance_holds_back_a_chains_rest_behind_a_retry() -> None:
    units = build_units([held(f"k{i}", recipients=("a",)) for i in range(3)], digest=False)
    slots = [T0, T0, T0 + 5]
    settled = {id(units[0])}
    still, held_back = advance([[0, 1, 2]], units, slots, settled, {id(units[0]): T0 + 30})
    assert still == []
    assert [(msgs[0].idempotency_key, at) for msgs, at in held_back] == [
        ("k1", T0 + 30),
        ("k2", T0 + 30),
    ]
    still, held_back = advance([[0, 1, 2]], units, slots, settled, {})
    assert still == [[1, 2]] and held_back == []


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus"])
def test_an_unknown_time_zone_falls_back_to_utc(name: str | None) -> None:
    bad = claimed_of(replace(held_message("k"), decision={"timezone": name}))
    assert single_delivery(bad).release_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
