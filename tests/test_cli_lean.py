"""The lean `release --stdin` path answers every line byte for byte as the reference
(`Answerer`, one request model per line) does: valid lines of every kind, bad lines of every
kind, blank lines, invalid UTF-8, huge lines, in any order."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from _batch_support import BASE, CREATED, line, mixed_input, reference_bytes, valid_lines
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deconnexion.cli.batch import Answerer, answer_lines
from deconnexion.cli.lean import LeanRelease
from deconnexion.core.message import Audience, Kind, SenderRole


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
