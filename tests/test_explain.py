"""Decisions told in French: dates written as pendulum's French locale writes them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest

from deconnexion.core.explain import format_fr

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("moment", "with_year", "text"),
    [
        (datetime(2025, 11, 3, 7, 0, tzinfo=PARIS), False, "lundi 3 novembre à 7 h 00"),
        (datetime(2026, 1, 1, 7, 5, tzinfo=PARIS), True, "jeudi 1er janvier 2026 à 7 h 05"),
        (datetime(2026, 8, 15, 19, 59, tzinfo=PARIS), False, "samedi 15 août à 19 h 59"),
        (datetime(2026, 2, 1, 0, 0, tzinfo=PARIS), False, "dimanche 1er février à 0 h 00"),
    ],
)
def test_format_fr_writes_day_date_month_and_time(moment, with_year, text):
    assert format_fr(moment, with_year) == text


def test_format_fr_agrees_with_pendulums_french_locale_in_every_zone():
    rng = random.Random(3)
    for name in ("Europe/Paris", "Indian/Reunion", "Pacific/Noumea", "America/Cayenne"):
        tz = ZoneInfo(name)
        for _ in range(300):
            moment = datetime(2018, 1, 1, tzinfo=tz) + timedelta(minutes=rng.randrange(7_000_000))
            moment = datetime.fromtimestamp(moment.timestamp(), tz)
            p = pendulum.instance(moment)
            day = p.format("dddd D MMMM YYYY", locale="fr").replace(" 1 ", " 1er ")
            assert format_fr(moment, True) == f"{day} à {p.hour} h {p.minute:02d}"
