"""A `release --stdin` line read by its bytes (cli/shapes.py): an instant read from its text is
in the span `CompiledWindows.span` finds from its epoch, in every offset, on DST days and at
every cut; a line of a remembered shape is answered byte for byte as the reference answers it,
whatever the spacing, the order of the fields, a repeated `created` or one inside a string."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from _batch_support import reference_bytes
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconnexion.cli.batch import answer_lines
from deconnexion.cli.shapes import created_slot, day_spans
from deconnexion.core.message import Audience
from deconnexion.core.scheduler import Scheduler

_OFFSETS = [timedelta(minutes=m) for m in (0, 60, 120, 240, -240, -300, -630, 330, 780, -1439)]
_WINDOWS = [
    Scheduler(zone="C").windows(Audience.STUDENTS),
    Scheduler(zone="C").windows(Audience.STAFF),
    Scheduler(zone="Réunion").windows(Audience.PARENTS),
    Scheduler(departement="973").windows(Audience.STUDENTS),
]
# Around DST changes, the turn of a year, holidays, a weekend, the ends of the compiled range.
_DAYS = [
    datetime(2025, 10, 26, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2025, 12, 31, tzinfo=UTC),
    datetime(2025, 11, 14, tzinfo=UTC),
    datetime(2018, 1, 1, tzinfo=UTC),
    datetime(2031, 12, 31, tzinfo=UTC),
]


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(_WINDOWS),
    st.booleans(),
    st.sampled_from(_DAYS),
    st.integers(-86400, 2 * 86400),
    st.sampled_from(_OFFSETS),
)
def test_an_instant_read_from_its_text_is_in_the_span_of_its_epoch(
    windows, open_spans, day, seconds, offset
):
    at = (day + timedelta(seconds=seconds)).astimezone(timezone(offset))
    text = at.isoformat()
    spans = day_spans(windows, text[:10] + text[19:])
    if spans is None:  # only a date outside the compiled range has none
        assert (
            windows.span(at.timestamp()) is None
            or windows.span(at.replace(hour=0, minute=0, second=0).timestamp()) is None
            or windows.span(at.replace(hour=23, minute=59, second=59).timestamp()) is None
        )
        return
    where = windows.span(at.timestamp())
    expected = None if where is None or (where[0] & 1 and not open_spans) else (*where, at.year)
    assert spans.key(text, open_spans) == expected


def test_every_cut_of_a_dst_day_is_read_as_the_epoch_reads_it():
    windows = Scheduler(zone="C").windows(Audience.STUDENTS)
    for offset in (timedelta(hours=1), timedelta(hours=2), timedelta(0)):
        start = datetime(2026, 3, 29, tzinfo=timezone(offset))
        spans = day_spans(windows, start.isoformat()[:10] + start.isoformat()[19:])
        assert spans is not None and spans.walls
        for wall in spans.walls:
            h, m, s = map(int, wall.split(":"))
            for at in (
                start.replace(hour=h, minute=m, second=s) + timedelta(seconds=d) for d in (-1, 0)
            ):
                where = windows.span(at.timestamp())
                assert where is not None
                assert spans.key(at.isoformat(), True) == (*where, 2026)


@pytest.mark.parametrize(
    "text", ["2025-11-14T24:00:00+01:00", "2025-11-14T12:60:00+01:00", "2025-11-14 12:00:00+01:00"]
)
def test_a_time_that_is_no_time_has_no_key(text):
    windows = Scheduler(zone="C").windows(Audience.STUDENTS)
    spans = day_spans(windows, "2025-11-14+01:00")
    assert spans is not None and spans.key(text, True) is None


@pytest.mark.parametrize(
    "written",
    [
        "2025-11-14-00:00",
        "2025-11-14+24:00",
        "2025-11-14+01:60",
        "2025-W46-5+01:00",
        "20251114+01:00",
    ],
)
def test_a_date_or_offset_not_written_as_isoformat_writes_it_has_no_spans(written):
    assert day_spans(Scheduler(zone="C").windows(Audience.STUDENTS), written) is None


def test_the_slot_is_the_string_after_the_first_created_key():
    line = b'{"kind": "x", "created": "2025-11-14T21:00:00+01:00", "zone": "C"}'
    assert line[created_slot(line) :].startswith(b'2025-11-14T21:00:00+01:00"')
    assert created_slot(b'{"created":"2025-11-14T21:00:00+01:00"}') == 12
    assert created_slot(b'{"created": "2025-11-14T21:00:00Z"}') == -1
    assert created_slot(b'{"created": 5}') == -1
    assert created_slot(b'{"created": "2025-11-14T21:00:00+01:00') == -1


_TEMPLATES = [
    {"kind": "message", "audience": "parents", "zone": "C"},
    {"kind": "grade", "audience": "parents", "uai": "0750001A"},
    {"kind": "homework", "audience": "students", "departement": "973"},
    {"kind": "announcement", "audience": "staff", "zone": "Réunion"},
    {"kind": "message", "audience": "parents", "zone": "C", "urgent": True,
     "sender_role": "chef_etablissement", "justification": "alerte"},
    {"kind": "message", "audience": "parents", "zone": "C", "urgent": 1,
     "sender_role": "chef_etablissement", "justification": "alerte"},
    {"kind": "message", "audience": "parents", "zone": "C", "publish_to_students_at": None},
    {"kind": "message", "audience": "parents", "zone": "C", "justification": "\"created\": \"x"},
    {"kind": "message", "audience": "parents", "zone": "Z"},
]  # fmt: skip


_FIXED = ["2025-11-14T21:00:00+01:00", "2025-11-15T09:00:00+01:00"]
_NEAR = ["2025-11-14T21:30:00+01:00", "2025-11-15T09:10:00+01:00"]  # in the same spans


@st.composite
def shaped_line(draw: st.DrawFn) -> bytes:
    """A line of a few templates, its instant anywhere in the line; or with a first `created`
    (or one inside an object) that is not the one that counts, which is one of a few, so that
    lines of one shape differ by the instant that does not count."""
    fields = dict(draw(st.sampled_from(_TEMPLATES)))
    at = draw(st.sampled_from(_DAYS[:4])) + timedelta(seconds=draw(st.integers(0, 3 * 86400)))
    at = at.astimezone(timezone(draw(st.sampled_from(_OFFSETS[:5]))))
    created = draw(st.sampled_from([at.isoformat(), at.isoformat(), "2025-02-30T10:00:00+01:00"]))
    items = list(fields.items())
    form = draw(st.sampled_from(["spaced", "compact", "twice", "nested"]))
    if form in ("spaced", "compact"):
        items.insert(draw(st.integers(0, len(items))), ("created", created))
        return json.dumps(
            dict(items), separators=(", " if form == "spaced" else ",", ": ")
        ).encode()
    decoy = draw(st.sampled_from([*_FIXED, *_NEAR, created]))
    items.append(("created", draw(st.sampled_from(_FIXED))))  # the last one counts
    first = {"created": decoy} if form == "twice" else {"x": {"created": decoy}}
    pairs = [*first.items(), *items]
    return ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}").encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shaped_line(), min_size=20, max_size=200))
def test_lines_of_remembered_shapes_are_answered_as_the_reference_answers_them(lines):
    data = b"\n".join(lines + lines) + b"\n"
    sink = io.BytesIO()
    with freeze_time("2025-11-14 21:00:00+01:00"):
        answer_lines("release", None, io.BytesIO(data), sink)
        assert sink.getvalue() == reference_bytes("release", data)


def test_a_first_created_that_does_not_count_is_never_read_as_the_instant():
    fields = '"kind": "message", "audience": "parents", "zone": "C"'
    lines = [
        f'{{"created": "{decoy}", {fields}, "created": "{_FIXED[0]}"}}'.encode()
        for decoy in (_FIXED[0], _NEAR[0], _FIXED[0], _NEAR[0])
    ]
    data = b"\n".join(lines) + b"\n"
    sink = io.BytesIO()
    answer_lines("release", None, io.BytesIO(data), sink)
    assert sink.getvalue() == reference_bytes("release", data)
    assert len(set(sink.getvalue().splitlines())) == 1
