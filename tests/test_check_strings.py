"""`check_strings` asks the C JSON encoder first and walks the value only when it must: both
ways refuse exactly the same values (a NUL or a lone surrogate in any nested key or string)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deconnexion.errors import InvalidInputError
from deconnexion.hold.request import _find_unstorable, _storable_at_once, check_strings

TEXT = st.text(alphabet=st.sampled_from(["a", "é", " ", "\x00", "\ud800", "\udfff", "€", "\\"]))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(TEXT | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


def refusal(check: Any, value: Any) -> str | None:
    try:
        check(value, "decision")
    except InvalidInputError as exc:
        return str(exc)
    return None


@given(VALUES)
def test_the_fast_check_refuses_exactly_what_the_walk_refuses(value: Any) -> None:
    walked = refusal(_find_unstorable, value)
    assert refusal(check_strings, value) == walked
    if _storable_at_once(value):
        assert walked is None


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"reasons": [{"text": "fin\x00"}]}, "decision.reasons[0].text"),
        ({"reasons": [{"t\x00": "x"}]}, "decision.reasons[0] key"),
        ({"reasons": ("ok", "\ud800")}, "decision.reasons[1]"),
        ({"a b": {"c": "\udfff"}}, "decision['a b'].c"),
    ],
)
def test_a_refusal_still_names_where_the_bad_string_is(value: Any, where: str) -> None:
    with pytest.raises(InvalidInputError, match=where.replace("[", r"\[").replace("]", r"\]")):
        check_strings(value, "decision")


def test_a_value_json_cannot_write_is_walked() -> None:
    value = {"when": object(), "text": "fin\x00"}
    assert not _storable_at_once(value)
    with pytest.raises(InvalidInputError, match=r"decision\.text"):
        check_strings(value, "decision")
