"""A queue checks each establishment once across its calls (`deconnexion.hold.request.Places`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import deconnexion.hold.request as request_module
from deconnexion.core.codes import ReasonCode
from deconnexion.core.message import Audience, Decision, Kind, Message, Provenance, Reason
from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue, HoldRequest
from deconnexion.hold.request import Places
from deconnexion.store import MemoryStore

PARIS = ZoneInfo("Europe/Paris")
CREATED = datetime(2025, 11, 7, 21, 0, tzinfo=PARIS)
RELEASE = datetime(2025, 11, 10, 7, 0, tzinfo=PARIS)
MESSAGE = Message(kind=Kind.GRADE, audience=Audience.STUDENTS, created_at=CREATED)
DECISION = Decision(
    held=True,
    release_at=RELEASE,
    created_at=CREATED,
    audience=Audience.STUDENTS,
    kind=Kind.GRADE,
    reasons=(Reason(ReasonCode.NIGHT, "Nuit", "Night"),),
    provenance=Provenance.OFFICIAL,
)


def hold(queue: HoldQueue, where: Establishment | str, key: str) -> str:
    r = HoldRequest(where, MESSAGE, DECISION, b"x", key, ("eleve:1",))
    return queue.hold_many([r])[0].id


def test_an_establishment_is_checked_once_across_hold_many_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[object] = []
    real = request_module.establishment_key

    def counted(value: Establishment | str, field: str = "establishment") -> str:
        asked.append(value)
        return real(value, field)

    monkeypatch.setattr(request_module, "establishment_key", counted)
    queue = HoldQueue(MemoryStore(), clock=lambda: CREATED.timestamp())
    lycee, other = Establishment(uai="0750001A"), Establishment(uai="0671234X")
    for n in range(3):
        hold(queue, lycee, f"a{n}")
        hold(queue, other, f"b{n}")
    assert asked == [lycee, other]
    held = queue.list(lycee) + queue.list(other)
    assert sorted(m.establishment for m in held) == ["0671234X"] * 3 + ["0750001A"] * 3
    assert queue.get("0750001A", hold(queue, lycee, "c")) is not None


def test_places_are_forgotten_beyond_the_limit() -> None:
    places = Places()
    for n in range(5):
        places[n] = (n, str(n), None)
    places.forget_beyond(5)
    assert len(places) == 5
    places[5] = (5, "5", None)
    places.forget_beyond(5)
    assert not places


def test_a_bad_establishment_string_is_refused_at_every_call() -> None:
    queue = HoldQueue(MemoryStore(), clock=lambda: CREATED.timestamp())
    for _ in range(2):
        with pytest.raises(ValueError, match="is not an establishment key"):
            hold(queue, " bad ", "k")
