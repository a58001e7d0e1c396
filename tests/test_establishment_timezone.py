"""Every establishment's own time: French Polynesia spans Tahiti, the Marquesas and the Gambier.

A collège on Nuku Hiva opens at 07:00 Marquesas time (UTC−9:30), not Tahiti time (UTC−10).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from deconnexion.core import _territory_data
from deconnexion.core.message import Kind, Message
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import InvalidInputError

SCHOOL_DAY = date(2025, 11, 18)  # Tuesday; Polynésie's « Vacances de Novembre » end Mon 10 Nov


def local(tz: str, hour: int, minute: int = 0, day: date = SCHOOL_DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(tz))


@pytest.mark.parametrize("tz", ["Pacific/Marquesas", "Pacific/Gambier"])
@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [(6, 59, True), (7, 0, False), (19, 59, False), (20, 0, True)],
)
def test_open_hours_are_in_the_establishments_own_zone(
    tz: str, hour: int, minute: int, quiet: bool
) -> None:
    s = Scheduler(establishment=Establishment(zone="Polynésie", timezone=tz))
    assert s.is_quiet(local(tz, hour, minute)) is quiet
    assert s.is_quiet(local(tz, hour, minute), audience="staff") is quiet


@pytest.mark.parametrize(
    ("tz", "tahiti_then"), [("Pacific/Marquesas", 6.5), ("Pacific/Gambier", 6)]
)
def test_seven_o_clock_on_the_islands_is_still_night_in_tahiti(tz: str, tahiti_then: float) -> None:
    island = Scheduler(establishment=Establishment(zone="Polynésie", timezone=tz))
    tahiti = Scheduler(establishment=Establishment(zone="Polynésie"))
    seven = local(tz, 7)
    assert seven.astimezone(ZoneInfo("Pacific/Tahiti")).time() == time(
        int(tahiti_then), int(tahiti_then % 1 * 60)
    )
    assert not island.is_quiet(seven)
    assert tahiti.is_quiet(seven)


def test_message_written_before_dawn_on_nuku_hiva_leaves_at_seven_marquesas_time() -> None:
    s = Scheduler(establishment=Establishment(zone="PF", timezone="Pacific/Marquesas"))
    decision = s.decide(
        Message(kind=Kind.MESSAGE, audience="parents", created_at=local("Pacific/Marquesas", 6))
    )
    assert decision.held
    assert decision.release_at == local("Pacific/Marquesas", 7)
    assert decision.release_at.utcoffset() == -timedelta(hours=9, minutes=30)
    assert decision.timezone == "Pacific/Marquesas"
    assert "à 7 h 00" in decision.explanation_fr()


def test_compiled_windows_are_not_shared_across_time_zones() -> None:
    tahiti = Scheduler(establishment=Establishment(zone="Polynésie"))
    marquesas = Scheduler(
        establishment=Establishment(zone="Polynésie", timezone="Pacific/Marquesas")
    )
    # Built in that order: a cache keyed without the zone would hand the Marquesas Tahiti's.
    assert tahiti.windows().tz.key == "Pacific/Tahiti"
    assert marquesas.windows().tz.key == "Pacific/Marquesas"
    assert tahiti.windows().bounds[0] - marquesas.windows().bounds[0] == 30 * 60


def test_territories_keep_their_default_zone() -> None:
    assert Establishment(zone="Polynésie").timezone == "Pacific/Tahiti"
    assert Establishment(uai="9871234A").timezone == "Pacific/Tahiti"
    assert Establishment(zone="C").timezone == "Europe/Paris"


def test_an_establishment_may_keep_its_zone_elsewhere_too() -> None:
    # Nothing restricts the override to Polynesia: a school decides its own local time.
    school = Establishment(uai="0750001A", timezone="Europe/Paris")
    assert school.timezone == "Europe/Paris"


@pytest.mark.parametrize("bad", ["Pacific/Marquesa", "Mars/Olympus", "../etc/passwd", "", "UTC+2"])
def test_unknown_time_zone_is_refused_naming_the_value_and_where_to_find_valid_ones(
    bad: str,
) -> None:
    with pytest.raises(InvalidInputError) as info:
        Establishment(zone="Polynésie", timezone=bad)
    message = str(info.value)
    assert f"timezone {bad!r}" in message
    assert "zoneinfo.available_timezones()" in message
    assert isinstance(info.value, ValueError)


def test_a_near_miss_suggests_the_right_name() -> None:
    with pytest.raises(InvalidInputError, match=r"did you mean 'Pacific/Marquesas'"):
        Establishment(zone="Polynésie", timezone="Pacific/Marquesa")


def test_time_zone_survives_json_and_copies() -> None:
    school = Establishment(uai="9871234A", timezone="Pacific/Gambier")
    assert school.model_dump()["timezone"] == "Pacific/Gambier"
    assert Establishment.model_validate_json(school.model_dump_json()).timezone == "Pacific/Gambier"
    assert school.model_copy(update={"name": "Collège de Rikitea"}).timezone == "Pacific/Gambier"
    moved = school.model_copy(update={"timezone": "Pacific/Marquesas"})
    assert moved.timezone == "Pacific/Marquesas"
    with pytest.raises(InvalidInputError, match="Nowhere/Land"):
        school.model_copy(update={"timezone": "Nowhere/Land"})


def test_uai_registry_holds_known_exceptions_and_an_explicit_zone_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(_territory_data.UAI_TIMEZONES, "9879999Z", "Pacific/Gambier")
    school = Establishment(uai="9879999z")  # UAIs are read in capitals
    assert school.timezone == "Pacific/Gambier"
    assert school.calendar_key[4] == "Pacific/Gambier"
    s = Scheduler(establishment=school)
    assert not s.is_quiet(local("Pacific/Gambier", 7))
    assert Establishment(uai="9879999Z", timezone="Pacific/Tahiti").timezone == "Pacific/Tahiti"
    assert Establishment(uai="9879998Z").timezone == "Pacific/Tahiti"


def test_every_uai_registry_entry_is_a_resolvable_uai_with_a_valid_zone() -> None:
    for uai, tz in _territory_data.UAI_TIMEZONES.items():
        assert Establishment(uai=uai).timezone == tz
        ZoneInfo(tz)
