"""The official calendar CSV: its quirks, its errors, and `calendar import`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from deconnexion.core.calendar_data import (
    HEADER,
    SchoolCalendar,
    active_calendar_path,
    import_calendar,
    packaged_calendar_path,
    parse_rows,
    period_days,
)
from deconnexion.errors import CalendarFileError, InvalidInputError

HEAD = ";".join(HEADER)
TOUSSAINT_C = (
    "Vacances de la Toussaint;-;2025-10-17T22:00:00+00:00;2025-11-02T23:00:00+00:00;{};"
    "Zone C;2025-2026"
)


def write(tmp_path: Path, text: str, name: str = "cal.csv", bom: bool = True) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def load(tmp_path: Path, *rows: str, bom: bool = True) -> SchoolCalendar:
    return SchoolCalendar.from_csv(write(tmp_path, "\n".join((HEAD, *rows)) + "\n", bom=bom))


@pytest.fixture
def snapshot() -> SchoolCalendar:
    return SchoolCalendar.from_csv(packaged_calendar_path())


# -- quirks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [True, False])
def test_header_is_read_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    cal = load(tmp_path, TOUSSAINT_C.format("Paris"), bom=bom)
    assert cal.zones() == ("Zone C",)


def test_comma_separated_file_is_refused_naming_the_separator(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace(";", ",") + "\n" + TOUSSAINT_C.replace(";", ",") + "\n")
    with pytest.raises(CalendarFileError, match=r"lacks description.*\(separator ';'\)"):
        SchoolCalendar.from_csv(path)


def test_rows_repeated_per_academie_are_one_period(tmp_path: Path) -> None:
    cal = load(tmp_path, *(TOUSSAINT_C.format(a) for a in ("Paris", "Créteil", "Versailles")))
    (period,) = cal.periods_of("Zone C")
    assert (period.start_date, period.end_date) == (date(2025, 10, 18), date(2025, 11, 3))


def test_snapshot_is_deduplicated_to_one_row_per_zone_and_period(
    snapshot: SchoolCalendar,
) -> None:
    # 2,306 rows in the file; 8 académies of zone A repeat every period.
    assert len(snapshot.periods) < 1000
    toussaint = [
        p
        for p in snapshot.periods_of("Zone A")
        if p.school_year == "2025-2026" and p.description == "Vacances de la Toussaint"
    ]
    assert len(toussaint) == 1


def test_deduplication_does_not_depend_on_string_hashing(tmp_path: Path) -> None:
    rows = [TOUSSAINT_C.format(a) for a in ("Paris", "Créteil")]
    first = load(tmp_path, *rows)
    second = load(tmp_path, *reversed(rows))
    assert first.periods == second.periods  # equality ignores the académie
    assert first.digest == load(tmp_path, *rows).digest


@pytest.mark.parametrize(
    ("zone", "stamp", "expected"),
    [
        # Midnight Europe/Paris written in UTC, for overseas zones too (summer and winter time).
        ("Zone C", "2025-10-17T22:00:00+00:00", date(2025, 10, 18)),
        ("Guadeloupe", "2025-10-17T22:00:00+00:00", date(2025, 10, 18)),
        ("Polynésie", "2025-12-12T23:00:00+00:00", date(2025, 12, 13)),
        ("Nouvelle Calédonie", "2025-04-04T22:00:00+00:00", date(2025, 4, 5)),
    ],
)
def test_dates_are_read_in_europe_paris_even_overseas(
    tmp_path: Path, zone: str, stamp: str, expected: date
) -> None:
    row = f"Vacances;-;{stamp};2026-01-11T23:00:00+00:00;{zone};{zone};2025-2026"
    (period,) = load(tmp_path, row).periods_of(zone)
    assert period.start_date == expected


def test_single_day_row_is_one_day_off(tmp_path: Path) -> None:
    row = (
        "Pont de l'Ascension;-;2027-05-06T22:00:00+00:00;2027-05-06T22:00:00+00:00;"
        "Paris;Zone C;2026-2027"
    )
    (period,) = load(tmp_path, row).periods_of("Zone C")
    assert (period.start, period.end, period.open_ended) == (
        date(2027, 5, 7),
        date(2027, 5, 8),
        False,
    )


@pytest.mark.parametrize(
    ("description", "start_date", "end_date", "days_off"),
    [
        # A period: start_date is the last day of classes, end_date the resumption morning.
        ("Vacances d'Été austral", date(2025, 12, 19), date(2026, 1, 21),
         (date(2025, 12, 20), date(2026, 1, 21), False)),  # Réunion, Fri → Wed
        ("Vacances de la Toussaint", date(2024, 10, 22), date(2024, 11, 4),
         (date(2024, 10, 23), date(2024, 11, 4), False)),  # Guadeloupe, a Tuesday
        ("Vacances de la Toussaint", date(2025, 10, 18), date(2025, 11, 3),
         (date(2025, 10, 19), date(2025, 11, 3), False)),  # mainland, a Saturday
        # Single-day rows: that day is off.
        ("Mi-carême", date(2025, 3, 27), date(2025, 3, 27),
         (date(2025, 3, 27), date(2025, 3, 28), False)),
        ("Semaine en mai", date(2025, 5, 30), date(2025, 5, 31),
         (date(2025, 5, 30), date(2025, 5, 31), False)),  # Guadeloupe, Fri → Sat
        # Début des Vacances: departure after class; nothing after it is published yet.
        ("Début des Vacances d'Été", date(2025, 7, 3), date(2025, 7, 3),
         (date(2025, 7, 4), date(2025, 7, 4), True)),
        # Nouvelle Calédonie / Wallis et Futuna: the Sunday end is the last day off.
        ("Vacances 1ère période", date(2025, 4, 5), date(2025, 4, 20),
         (date(2025, 4, 6), date(2025, 4, 21), False)),
    ],
)  # fmt: skip
def test_period_days_read_start_date_as_the_last_day_of_classes(
    description: str, start_date: date, end_date: date, days_off: tuple[date, date, bool]
) -> None:
    assert period_days(description, start_date, end_date) == days_off


def test_debut_des_vacances_row_is_open_ended_and_bounds_known_until(tmp_path: Path) -> None:
    rows = (
        TOUSSAINT_C.format("Paris"),
        "Début des Vacances d'Été;-;2026-07-03T22:00:00+00:00;2026-07-03T22:00:00+00:00;"
        "Paris;Zone C;2025-2026",
    )
    cal = load(tmp_path, *rows)
    summer = [p for p in cal.periods_of("Zone C") if p.open_ended]
    # Departure after class on Sat 4 Jul (a published school day); nothing after is published.
    # (Read before as "Sat 4 Jul is the first day off", which contradicts the dataset.)
    assert [(p.start_date, p.start, p.end) for p in summer] == [
        (date(2026, 7, 4), date(2026, 7, 5), date(2026, 7, 5))
    ]
    assert cal.known_until("Zone C") == date(2026, 7, 5)


@pytest.mark.parametrize(
    ("zone", "until"),
    [
        # "Début des Vacances d'Été" 2026-2027 on Sat 3 Jul, end unpublished: departure after
        # class that day, so Sat 3 Jul is described and Sun 4 Jul is the first unknown day.
        ("Zone A", date(2027, 7, 4)),
        ("Zone C", date(2027, 7, 4)),
        ("Corse", date(2025, 7, 6)),  # no Corse rows for 2025-2026
        # The 2025-2026 summer is published in full: classes resume Mon 24 Aug, a known day.
        ("Mayotte", date(2026, 8, 25)),
        ("Réunion", date(2026, 7, 5)),
        ("Nouvelle Calédonie", date(2025, 12, 21)),
        ("Atlantis", None),
    ],
)
def test_known_until_of_the_snapshot(
    snapshot: SchoolCalendar, zone: str, until: date | None
) -> None:
    assert snapshot.known_until(zone) == until


def test_snapshot_covers_every_zone_of_the_dataset(snapshot: SchoolCalendar) -> None:
    assert set(snapshot.zones()) == {
        "Zone A",
        "Zone B",
        "Zone C",
        "Corse",
        "Guadeloupe",
        "Martinique",
        "Guyane",
        "Réunion",
        "Mayotte",
        "Polynésie",
        "Nouvelle Calédonie",
        "Saint Pierre et Miquelon",
        "Wallis et Futuna",
    }


# -- bad files ----------------------------------------------------------------------------------


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = HEAD.replace(";zones", "")
    with pytest.raises(CalendarFileError, match=r"lacks zones") as info:
        SchoolCalendar.from_csv(write(tmp_path, header + "\n"))
    assert "cal.csv" in str(info.value)


def test_bad_date_names_line_column_and_value(tmp_path: Path) -> None:
    rows = (
        TOUSSAINT_C.format("Paris"),
        "Vacances de Noël;-;2025-13-19T23:00:00+00:00;2026-01-04T23:00:00+00:00;"
        "Paris;Zone C;2025-2026",
    )
    with pytest.raises(CalendarFileError) as info:
        load(tmp_path, *rows)
    message = str(info.value)
    assert "line 3" in message
    assert "start_date" in message
    assert "'2025-13-19T23:00:00+00:00'" in message


def test_end_before_start_is_refused(tmp_path: Path) -> None:
    row = "Vacances;-;2025-11-02T23:00:00+00:00;2025-10-17T22:00:00+00:00;Paris;Zone C;2025-2026"
    with pytest.raises(CalendarFileError, match=r"line 2: end_date .* is before start_date"):
        load(tmp_path, row)


def test_short_row_is_refused_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match="line 2: 3 columns, expected 7"):
        load(tmp_path, "Vacances;-;2025-10-17T22:00:00+00:00")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf", "empty file"),
        (HEAD.encode() + b"\n", "no data rows"),
        ("Vacances;Élèves".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files_are_refused(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CalendarFileError, match=match):
        SchoolCalendar.from_csv(path)


def test_missing_file_is_a_calendar_file_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match="cannot read it"):
        SchoolCalendar.from_csv(tmp_path / "nope.csv")


def test_calendar_file_error_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        parse_rows("", "text")


# -- import ---------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "data"
    monkeypatch.setenv("DECONNEXION_DATA_DIR", str(target))
    monkeypatch.delenv("DECONNEXION_CALENDAR", raising=False)
    return target


def newer_export(tmp_path: Path) -> Path:
    """The snapshot plus the 2026-2027 summer of zone C, as a newer export would have it."""
    text = packaged_calendar_path().read_bytes().decode("utf-8-sig").rstrip("\n")
    extra = (
        "Vacances d'Été;Élèves;2027-07-02T22:00:00+00:00;2027-08-31T22:00:00+00:00;"
        "Paris;Zone C;2026-2027"
    )
    return write(tmp_path, f"{text}\n{extra}\n", name="export.csv")


def test_without_import_the_snapshot_is_active(data_dir: Path) -> None:
    assert active_calendar_path() == packaged_calendar_path()


def test_import_installs_the_file_and_makes_it_active(data_dir: Path, tmp_path: Path) -> None:
    target, calendar = import_calendar(newer_export(tmp_path))
    assert target == data_dir / "fr-en-calendrier-scolaire.csv"
    assert active_calendar_path() == target
    assert SchoolCalendar.default().digest == calendar.digest
    summers = [p for p in calendar.periods_of("Zone C") if p.end == date(2027, 9, 1)]
    assert summers and summers[0].population == "Élèves"


def test_import_of_a_file_missing_zones_is_refused_and_previous_file_kept(
    data_dir: Path, tmp_path: Path
) -> None:
    target, _ = import_calendar(newer_export(tmp_path))
    before = target.read_bytes()
    filtered = write(tmp_path, f"{HEAD}\n{TOUSSAINT_C.format('Paris')}\n", name="zone_c.csv")
    with pytest.raises(CalendarFileError, match="has no rows for Corse") as info:
        import_calendar(filtered)
    assert "Zone A" in str(info.value)
    assert target.read_bytes() == before
    assert active_calendar_path() == target


def test_import_of_a_broken_file_leaves_nothing_behind(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError):
        import_calendar(write(tmp_path, "nonsense\n"))
    assert not data_dir.exists() or not any(data_dir.iterdir())
    assert active_calendar_path() == packaged_calendar_path()


def test_deconnexion_calendar_variable_overrides_the_import(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_calendar(newer_export(tmp_path))
    chosen = write(tmp_path, f"{HEAD}\n{TOUSSAINT_C.format('Paris')}\n", name="mine.csv")
    monkeypatch.setenv("DECONNEXION_CALENDAR", str(chosen))
    assert active_calendar_path() == chosen
    assert SchoolCalendar.default().zones() == ("Zone C",)
