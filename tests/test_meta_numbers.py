"""A request's meta of plain numbers is copied as it is (`request._flat_numbers`), exactly what
writing it as JSON and reading it back gives; anything else goes that way, refusals included."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deconnexion.errors import PayloadError
from deconnexion.hold.request import json_object

KEYS = st.text(alphabet=st.sampled_from(["a", "_", '"', "\\", "é", "\x00", "\n", "\ud800"]))
SCALARS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.booleans()
    | st.none()
    | st.text(max_size=3)
)
METAS = st.dictionaries(KEYS, SCALARS | st.lists(st.integers(), max_size=2), max_size=4)


def outcome(value: Any) -> Any:
    try:
        out = json_object(value, "meta")
    except ValueError as exc:  # PayloadError, or InvalidInputError for an unstorable string
        return ("refused", type(exc), str(exc))
    return ("copied", out, [type(v) for v in out.values()])


@settings(deadline=None)  # the loaded 2-core machine: no time limit per example
@given(METAS)
def test_a_meta_dict_reads_as_its_json_copy(meta: dict[str, Any]) -> None:
    general = outcome(MappingProxyType(meta))  # not a dict: the JSON round trip
    assert outcome(meta) == general
    if general[0] == "copied":
        assert outcome(meta)[1] is not meta  # a copy: the caller may change its own


def test_numbers_are_copied_and_odd_floats_still_refused() -> None:
    meta = {"open_until": 1762318800.25, "n": 3, "ok": True, "none": None}
    assert json_object(meta, "meta") == meta
    for bad in (float("nan"), float("inf")):
        with pytest.raises(PayloadError, match="meta: cannot be written as JSON"):
            json_object({"open_until": bad}, "meta")
