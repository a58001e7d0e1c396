"""Storm smoothing: slots never early, rate respected, urgent first, per-recipient order kept."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconnexion.errors import InvalidInputError
from deconnexion.release.smoothing import Due, Smoother, plan_slots, spread_rate

T0 = 1_762_149_600.0  # 2025-11-03T07:00:00+01:00, a Monday morning after a weekend


def test_without_limits_every_message_goes_at_its_release_or_now() -> None:
    items = [Due(("a",), T0 - 60, 2), Due(("b",), T0, 2)]
    slots, free = plan_slots(items, now=T0)
    assert slots == [T0, T0]
    assert free is None


def test_rate_spaces_consecutive_slots() -> None:
    items = [Due((f"r{i}",), T0, 2) for i in range(5)]
    slots, free = plan_slots(items, now=T0, max_rate=10)
    assert slots == pytest.approx([T0, T0 + 0.1, T0 + 0.2, T0 + 0.3, T0 + 0.4])
    assert free == pytest.approx(T0 + 0.5)


def test_rate_carries_over_to_the_next_batch() -> None:
    smoother = Smoother(max_rate=2)
    first = smoother.plan([Due(("a",), T0), Due(("b",), T0)], T0)
    second = smoother.plan([Due(("c",), T0)], T0 + 0.1)
    assert first == pytest.approx([T0, T0 + 0.5])
    assert second == pytest.approx([T0 + 1.0])


def test_timetable_and_urgent_go_before_the_rest_of_the_batch() -> None:
    items = [Due(("a",), T0, 2), Due(("b",), T0, 2), Due(("c",), T0, 0)]
    slots, _ = plan_slots(items, now=T0, max_rate=1)
    assert slots == [T0 + 1, T0 + 2, T0]


def test_an_urgent_message_pulls_the_same_recipients_earlier_message_forward() -> None:
    items = [Due(("x",), T0, 2), Due(("y",), T0, 2), Due(("x",), T0, 0)]
    slots, _ = plan_slots(items, now=T0, max_rate=1)
    # x's grade must not be overtaken by x's timetable change: both go before y's
    assert slots[0] < slots[2] < slots[1]


def test_a_message_to_two_recipients_keeps_order_for_both() -> None:
    items = [Due(("x",), T0, 2), Due(("x", "y"), T0, 2), Due(("y",), T0, 0)]
    slots, _ = plan_slots(items, now=T0, max_rate=1)
    assert slots[0] < slots[1] < slots[2]


def test_a_message_due_later_than_now_is_never_slotted_before_its_release() -> None:
    slots, _ = plan_slots([Due(("a",), T0 + 30, 2), Due(("a",), T0, 2)], now=T0)
    assert slots == [T0 + 30, T0 + 30]  # the second waits behind the first


def test_spread_rate_finishes_the_backlog_by_the_end_of_the_window() -> None:
    assert spread_rate(900, window_open=T0, spread_seconds=900, now=T0) == pytest.approx(1.0)
    assert spread_rate(450, window_open=T0, spread_seconds=900, now=T0 + 450) == pytest.approx(1)
    assert spread_rate(10, window_open=T0, spread_seconds=900, now=T0 + 900) is None
    assert spread_rate(0, window_open=T0, spread_seconds=900, now=T0) is None


def test_spread_rate_never_exceeds_max_rate() -> None:
    smoother = Smoother(max_rate=5)
    smoother.set_spread_rate(100.0)
    assert smoother.rate == 5
    smoother.set_spread_rate(0.5)
    assert smoother.rate == 0.5
    smoother.set_spread_rate(None)
    assert smoother.rate == 5


@pytest.mark.parametrize("bad", [0, -1.5])
def test_a_rate_that_is_not_positive_is_refused_by_name(bad: float) -> None:
    with pytest.raises(InvalidInputError, match=r"max_rate: .*expected"):
        Smoother(max_rate=bad)
    with pytest.raises(InvalidInputError, match="spread_seconds"):
        spread_rate(1, window_open=T0, spread_seconds=bad, now=T0)


due_items = st.lists(
    st.builds(
        Due,
        recipients=st.lists(st.sampled_from("abcdef"), min_size=1, max_size=2, unique=True).map(
            tuple
        ),
        release_at=st.floats(T0 - 3600, T0 + 60, allow_nan=False),
        priority=st.integers(0, 2),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    items=due_items,
    rate=st.one_of(st.none(), st.floats(0.5, 1000)),
    next_free=st.one_of(st.none(), st.floats(T0 - 10, T0 + 10)),
)
def test_slots_keep_every_invariant(
    items: list[Due], rate: float | None, next_free: float | None
) -> None:
    slots, free = plan_slots(items, now=T0, max_rate=rate, next_free=next_free)
    assert len(slots) == len(items)
    for item, slot in zip(items, slots, strict=True):
        assert slot >= item.release_at  # never before release
        assert slot >= T0  # never in the past
    for r in "abcdef":  # per-recipient order: slots never decrease along a recipient's list
        theirs = [s for item, s in zip(items, slots, strict=True) if r in item.recipients]
        assert theirs == sorted(theirs)
    if rate is not None:
        ordered = sorted(slots)
        gaps = [b - a for a, b in itertools.pairwise(ordered)]
        assert all(g >= 1 / rate - 1e-6 for g in gaps)  # rate respected
        if next_free is not None and slots:
            assert min(slots) >= next_free - 1e-9
        assert free is not None and (not slots or free >= max(slots))


@settings(max_examples=200, deadline=None)
@given(items=due_items, rate=st.floats(0.5, 100))
def test_urgent_messages_alone_go_before_every_other_one(items: list[Due], rate: float) -> None:
    items = [Due(i.recipients, min(i.release_at, T0), i.priority) for i in items]
    slots, _ = plan_slots(items, now=T0, max_rate=rate)
    urgent = [i for i, item in enumerate(items) if item.priority == 0]
    for i in urgent:
        # ahead of an urgent message: only urgent ones, and messages that must precede an urgent
        # one because they are earlier for the same recipients (they are pulled forward)
        for j, s in enumerate(slots):
            if s < slots[i]:
                assert items[j].priority == 0 or any(_chained(items, j, u) for u in urgent)


def _chained(items: list[Due], j: int, i: int) -> bool:
    """j precedes i through a chain of shared recipients going forward (j < … < i)."""
    reach = {j}
    for k in range(j + 1, i + 1):
        if any(set(items[k].recipients) & set(items[m].recipients) for m in reach):
            reach.add(k)
    return i in reach


def test_same_input_gives_same_slots() -> None:
    items = [Due((f"r{i % 7}",), T0 - i, i % 3) for i in range(50)]
    assert plan_slots(items, now=T0, max_rate=20) == plan_slots(items, now=T0, max_rate=20)


def test_a_message_is_never_smoothed_past_the_end_of_its_window() -> None:
    # parents' grades due at 19:59:50, window closes at 20:00: a burst, not a night message
    close = T0 + 13 * 3600
    items = [Due((f"p{i}",), close - 10, 2, latest=close - 1) for i in range(5)]
    slots, free = plan_slots(items, now=close - 10, max_rate=0.1)
    assert slots[0] == close - 10
    assert all(s <= close - 1 for s in slots)
    assert free == close  # only the first one used the rate's budget


def test_a_recipients_earlier_message_inherits_a_later_ones_deadline() -> None:
    items = [Due(("y",), T0, 2), Due(("x",), T0, 2), Due(("x",), T0, 2, latest=T0 + 1)]
    slots, _ = plan_slots(items, now=T0, max_rate=0.5)
    assert slots[1] <= slots[2] <= T0 + 1


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.builds(
            Due,
            recipients=st.lists(st.sampled_from("abcd"), min_size=1, max_size=2, unique=True).map(
                tuple
            ),
            release_at=st.floats(T0 - 3600, T0, allow_nan=False),
            priority=st.integers(0, 2),
            latest=st.one_of(st.none(), st.floats(T0, T0 + 120, allow_nan=False)),
        ),
        max_size=40,
    ),
    rate=st.one_of(st.none(), st.floats(0.05, 50)),
)
def test_due_messages_never_go_after_their_latest(items: list[Due], rate: float | None) -> None:
    slots, _ = plan_slots(items, now=T0, max_rate=rate)
    for item, slot in zip(items, slots, strict=True):
        assert slot >= max(T0, item.release_at)
        if item.latest is not None:
            assert slot <= item.latest
    for r in "abcd":
        theirs = [s for item, s in zip(items, slots, strict=True) if r in item.recipients]
        assert theirs == sorted(theirs)


def test_a_spread_window_counts_once_then_paces_the_rest_of_the_backlog() -> None:
    from deconnexion.release.smoothing import SpreadWindow

    window = SpreadWindow(900, recount_seconds=30)
    assert window.needs_count(T0)
    window.counted(T0, 900)
    assert window.rate(T0) == pytest.approx(1.0)
    window.sent(300)
    assert not window.needs_count(T0 + 10)
    assert window.rate(T0 + 300) == pytest.approx(1.0)  # 600 left in 600 s
    assert window.needs_count(T0 + 40)  # recount: other workers drain it too


def test_a_spread_window_is_over_after_its_length_and_a_new_backlog_opens_another() -> None:
    from deconnexion.release.smoothing import SpreadWindow

    window = SpreadWindow(900)
    window.counted(T0, 10)
    window.sent(10)  # a last full batch: not drained as far as the worker knows
    later = T0 + 3 * 3600
    assert window.needs_count(later)
    window.counted(later, 1800)
    assert window.rate(later) == pytest.approx(2.0)  # not None: the new backlog is spread
    window.drained()
    assert window.rate(later) is None
