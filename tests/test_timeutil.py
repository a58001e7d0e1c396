"""`deconnexion.core.timeutil.aware`: aware datetimes pass, naive ones are refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from deconnexion.core.timeutil import aware
from deconnexion.errors import NaiveDatetimeError


class _NoOffset(tzinfo):
    """A zone that knows no offset: a datetime in it is naive (Python's data model)."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


class _Later(datetime):
    pass


@pytest.mark.parametrize(
    "tz", [ZoneInfo("Europe/Paris"), ZoneInfo("Pacific/Marquesas"), UTC,
           timezone(timedelta(hours=-3))],
)  # fmt: skip
def test_a_datetime_in_a_zoneinfo_or_fixed_zone_is_aware(tz: tzinfo) -> None:
    at = datetime(2025, 11, 3, 7, tzinfo=tz)
    assert aware(at) is at


def test_a_zone_without_offset_is_refused_like_a_naive_datetime() -> None:
    with pytest.raises(NaiveDatetimeError, match="release_at: naive datetime"):
        aware(datetime(2025, 11, 3, 7, tzinfo=_NoOffset()), "release_at")
    with pytest.raises(NaiveDatetimeError, match="created_at: naive datetime"):
        aware(datetime(2025, 11, 3, 7), "created_at")


def test_a_datetime_subclass_is_asked_its_offset() -> None:
    at = _Later(2025, 11, 3, 7, tzinfo=ZoneInfo("Europe/Paris"))
    assert aware(at) is at
    with pytest.raises(NaiveDatetimeError):
        aware(_Later(2025, 11, 3, 7, tzinfo=_NoOffset()))
