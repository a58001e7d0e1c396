"""The lean `release --stdin` path answers every line byte for byte as the reference
(`Answerer`, one request model per line) does: valid lines of every kind, bad lines of every
kind, blank lines, invalid UTF-8, huge lines, in any order."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from _batch_support import BASE, CREATED, line, mixed_input, reference_bytes, valid_lines
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconnexion.cli.batch import Answerer, answer_lines
from deconnexion.cli.lean import LeanRelease, canonical_instant
from deconnexion.core.message import Audience, Kind, SenderRole
from deconnexion.core.timeutil import parse_instant


def lean_bytes(data: bytes) -> bytes:
    sink = io.BytesIO()
    answer_lines("release", None, io.BytesIO(data), sink)
    return sink.getvalue()


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-first", "bad-first"])
def test_lean_release_path_writes_the_reference_bytes_for_mixed_input(valid_first):
    data = mixed_input(valid_first)
    expected = reference_bytes("release", data)
    assert lean_bytes(data) == expected
    answers = expected.decode().splitlines()
    errors = [json.loads(a)["error"] for a in answers if a.startswith('{"error"')]
    assert {"invalid_json", "unknown_field", "invalid_choice", "missing_field"} <= {
        e["code"] for e in errors
    }
    assert all(set(e) == {"code", "field", "value", "accepted", "message"} for e in errors)
    assert sum(not a.startswith('{"error"') for a in answers) > len(valid_lines())


def test_lean_release_path_answers_a_last_line_without_newline():
    data = mixed_input(False) + line(**BASE, zone="C").encode()
    assert lean_bytes(data) == reference_bytes("release", data)


def test_a_line_of_an_invalid_template_never_takes_the_lean_path():
    reference = Answerer("release")
    lean = LeanRelease(reference)
    bad = line(**BASE, zone="C", urgent=True, sender_role="teacher", justification=".").encode()
    first, again = lean(bad), lean(bad)
    assert first == again == Answerer("release")(bad)
    assert first[1] is True


_TEXT = st.one_of(
    st.sampled_from(
        ["C", "A", "Réunion", "0750001A", "75", "Lyon", "alerte", "", " ", "now", "NOW"]
    ),
    st.text(max_size=12),
)
_INSTANT = st.one_of(
    st.sampled_from([*CREATED, "2025-11-14T21:00:00", "2099-01-01T00:00:00+00:00", "now"]),
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2032, 1, 1),
        timezones=st.sampled_from([UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Indian/Reunion")]),
    ).map(lambda d: d.isoformat()),
)
_VALUE = st.one_of(
    _TEXT,
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(),
    st.lists(st.none(), max_size=1),
)
_FIELDS = {
    "created": st.one_of(_INSTANT, _VALUE),
    "kind": st.one_of(st.sampled_from([k.value for k in Kind]), _VALUE),
    "audience": st.one_of(st.sampled_from([a.value for a in Audience]), _VALUE),
    "sender_role": st.one_of(st.sampled_from([r.value for r in SenderRole]), _VALUE),
    "urgent": st.one_of(st.booleans(), _VALUE),
    "justification": st.one_of(st.sampled_from(["alerte", "alerte météo", "."]), _VALUE),
    "publish_to_students_at": st.one_of(_INSTANT, _VALUE),
    "zone": st.one_of(st.sampled_from(["C", "B", "Corse", "Z"]), _VALUE),
    "uai": st.one_of(st.sampled_from(["0750001A", "9740001A"]), _VALUE),
    "departement": _VALUE,
    "colour": _VALUE,
}


@st.composite
def request_line(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(sorted(_FIELDS)), max_size=8, unique=True))
    fields = {name: draw(_FIELDS[name]) for name in names}
    shape = draw(st.sampled_from(["json", "ascii", "raw", "bytes"]))
    if shape == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if shape == "raw":
        return draw(st.text(max_size=40)).replace("\n", " ").encode("utf-8", "surrogatepass")
    return json.dumps(fields, ensure_ascii=shape == "ascii", allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(request_line(), min_size=1, max_size=12))
def test_lean_release_path_equals_the_reference_on_any_lines(lines):
    data = b"\n".join(lines + lines[::-1]) + b"\n"
    with freeze_time("2025-11-14 21:00:00+01:00"):  # "now" is read at each line
        assert lean_bytes(data) == reference_bytes("release", data)


_CANONICAL_FORM = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\Z"


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.from_regex(_CANONICAL_FORM),
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.timezones(),
        ).map(lambda d: d.replace(microsecond=0).isoformat()),
    )
)
def test_a_canonical_instant_is_read_as_parse_instant_reads_it_and_written_back_as_given(text):
    quick = canonical_instant(text)
    if quick is None:
        return
    assert quick.isoformat() == text
    reference = parse_instant(text, "created")
    assert (quick, quick.utcoffset()) == (reference, reference.utcoffset())


@pytest.mark.parametrize(
    "text",
    [
        "2025-11-14T21:00:00+01:75",  # minutes past 59: read as +02:15
        "2025-11-14T21:00:00-00:00",  # read as +00:00
        "2025-11-14T21:00:00Z",
        "2025-11-14 21:00:00+01:00",
        "2025-11-14T21:00:00.5+01:00",
        "2025-W46-5T21:00:00+01:00",
        "2025-02-30T21:00:00+01:00",
        " 2025-11-14T21:00:00+01:00",
        "２025-11-14T21:00:00+01:00",
    ],
)
def test_other_forms_are_not_canonical(text):
    assert canonical_instant(text) is None


# Lines of a few templates created within a few days (DST changes, a weekend, holidays, the
# turn of a year), in many offsets and forms: most are answered from a remembered span.
_DAYS = [
    datetime(2025, 10, 24, tzinfo=UTC),  # Friday before the autumn change and All Saints'
    datetime(2026, 3, 27, tzinfo=UTC),  # Friday before the spring change
    datetime(2025, 12, 30, tzinfo=UTC),  # the turn of the year, in holidays
    datetime(2025, 11, 13, tzinfo=UTC),  # term time
]
_OFFSETS = [timedelta(0), timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
_OFFSETS += [timedelta(hours=-4), timedelta(hours=-10, minutes=-30), timedelta(hours=13)]


@st.composite
def span_instant(draw: st.DrawFn) -> str:
    at = draw(st.sampled_from(_DAYS)) + timedelta(
        seconds=draw(st.integers(0, 4 * 86400)), microseconds=draw(st.sampled_from([0, 0, 5]))
    )
    at = at.astimezone(timezone(draw(st.sampled_from(_OFFSETS))))
    form = draw(st.sampled_from(["iso", "iso", "iso", "Z", "zone", "spaced", "now"]))
    if form == "Z" and at.utcoffset() == timedelta(0):
        return at.isoformat().replace("+00:00", "Z")
    if form == "zone":
        return at.astimezone(ZoneInfo("Europe/Paris")).isoformat()
    if form == "spaced":
        return f" {at.isoformat()} "
    if form == "now":
        return "now"
    return at.isoformat()


_SPAN_TEMPLATES = [
    {"kind": kind, "audience": audience, **where}
    for kind in ("message", "grade", "homework")
    for audience in ("students", "parents", "staff")
    for where in ({"zone": "C"}, {"uai": "0750001A"}, {"zone": "Réunion"}, {"departement": "973"})
]
_SPAN_TEMPLATES += [
    {"kind": kind, "audience": "parents", "urgent": True, **where, **extra}
    for kind in ("message", "grade")
    for where in ({"zone": "C"}, {"uai": "0750001A"})
    for extra in (
        {"sender_role": "chef_etablissement", "justification": "alerte"},
        {"sender_role": "teacher", "justification": "alerte"},
        {"sender_role": "chef_etablissement"},
        {"sender_role": "chef_etablissement", "justification": "\u200b"},
    )
]
_SPAN_TEMPLATES += [{"kind": "grade", "audience": "students", "zone": "C", "urgent": True}]
_SPAN_TEMPLATES += [{"kind": "message", "audience": "parents", "zone": "C", "justification": "."}]


@st.composite
def span_line(draw: st.DrawFn) -> bytes:
    fields = dict(draw(st.sampled_from(_SPAN_TEMPLATES)))
    fields["created"] = draw(span_instant())
    if draw(st.integers(0, 9)) == 0:
        fields["publish_to_students_at"] = draw(span_instant())
    return json.dumps(fields).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(span_line(), min_size=50, max_size=300))
def test_answers_remembered_by_span_are_the_reference_bytes(lines):
    data = b"\n".join(lines) + b"\n"
    with freeze_time("2025-11-14 21:00:00+01:00"):
        assert lean_bytes(data) == reference_bytes("release", data)
