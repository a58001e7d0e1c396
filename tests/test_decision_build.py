"""`build_decision`, the scheduler's fast constructor, gives exactly what `Decision(...)` gives."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from deconnexion import Establishment, Message, Policy, Scheduler
from deconnexion.core.message import Decision, _UnfrozenDecision, build_decision

PARIS = ZoneInfo("Europe/Paris")


def a_decision() -> Decision:
    s = Scheduler(Policy.national(), Establishment(zone="C"))
    return s.decide(
        Message(
            kind="grade", audience="parents", created_at=datetime(2025, 11, 14, 17, tzinfo=PARIS)
        )
    )


def test_the_fast_constructor_takes_every_field_of_decision_in_order() -> None:
    fields = [f.name for f in dataclasses.fields(Decision)]
    assert list(inspect.signature(build_decision).parameters) == fields
    assert list(_UnfrozenDecision.__slots__) == fields


def test_a_scheduled_decision_equals_one_built_by_the_constructor() -> None:
    fast = a_decision()
    slow = Decision(**{f.name: getattr(fast, f.name) for f in dataclasses.fields(Decision)})
    assert type(fast) is Decision
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)


def test_a_scheduled_decision_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        a_decision().held = False  # type: ignore[misc]


def test_a_scheduled_decision_copies_pickles_and_replaces_like_any_decision() -> None:
    d = a_decision()
    assert pickle.loads(pickle.dumps(d)) == d
    assert copy.deepcopy(d) == d
    assert dataclasses.replace(d, timezone="Europe/Paris") == d
    assert dataclasses.asdict(d)["release_at"] == d.release_at
