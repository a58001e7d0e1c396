"""core/frozen.py: a frozen dataclass built through its mutable twin is that dataclass."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from deconnexion.core.frozen import frozen_builder
from deconnexion.errors import InvalidInputError
from deconnexion.hold.request import HoldRequest, build_request
from deconnexion.release.deliver import Delivery
from deconnexion.store.base import HeldMessage, build_held


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = dataclasses.field(default_factory=tuple)


def _held() -> dict[str, object]:
    return {f.name: f"v{i}" for i, f in enumerate(dataclasses.fields(HeldMessage))}


def test_a_built_held_message_is_a_held_message_equal_to_the_constructed_one() -> None:
    values = _held()
    built, made = build_held(**values), HeldMessage(**values)  # type: ignore[arg-type]
    assert type(built) is HeldMessage
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert build_held(*values.values()) == made


def test_a_built_instance_stays_frozen() -> None:
    built = build_held(**_held())
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.id = "other"  # type: ignore[misc]


def test_a_built_instance_copies_pickles_and_replaces_like_any_other() -> None:
    built = build_held(**_held())
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.copy(built) == built and copy.deepcopy(built) == built
    assert dataclasses.replace(built, id="x").id == "x"


def test_defaults_and_default_factories_apply() -> None:
    build = frozen_builder(Point)
    assert build(1) == Point(1) and build(1).tags == () and build(x=3, y=4) == Point(3, 4)
    with pytest.raises(TypeError):
        build()  # x is required, as for Point()


def test_post_init_checks_still_run() -> None:
    build = frozen_builder(Delivery)
    fields = {
        "idempotency_key": "k",
        "establishment": "0750001A",
        "recipients": ("parent:1",),
        "payload": b"{}",
        "content_type": "application/json",
        "release_at": datetime(2026, 1, 5, 7, tzinfo=UTC),
        "ids": ("a",),
        "kinds": ("grade",),
    }
    assert build(**fields) == Delivery(**fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="naive datetime"):
        build(**{**fields, "release_at": datetime(2026, 1, 5, 7)})
    with pytest.raises(InvalidInputError, match="payload"):
        build(**{**fields, "payload": "text"})


def test_classes_it_does_not_fit_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    for cls in (NoSlots, Mutable, int):
        with pytest.raises(TypeError, match="not a frozen slots dataclass"):
            frozen_builder(cls)


def test_a_built_hold_request_is_the_hold_request_with_its_defaults() -> None:
    args = ("0750001A", None, None, b"x", "key", ("r",), "c", "actor")
    built, made = build_request(*args, follows="id"), HoldRequest(*args, follows="id")  # type: ignore[arg-type]
    assert type(built) is HoldRequest and built == made
    assert built.meta is None and built.anonymous is False and built.expires_at is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.follows = "other"  # type: ignore[misc]
