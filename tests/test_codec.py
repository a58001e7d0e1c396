"""The SQL stores' JSON codec: a text read many times in one batch decodes each time to a
value of its own (equal to `json.loads`, no dict or list shared), whatever its nesting; what
the encoder writes is `dumps` of the value, byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from deconnexion.core.codes import ReasonCode
from deconnexion.store.codec import (
    dicts_decoder,
    dumps,
    plain_strings,
    strings_decoder,
    write_encoder,
)

leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
objects = st.dictionaries(st.text(), values, max_size=6)


def containers(value: Any) -> list[object]:
    """Every dict and list in `value`, itself included."""
    found: list[object] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += containers(item)
    elif isinstance(value, list):
        found.append(value)
        for item in value:
            found += containers(item)
    return found


@given(objects)
def test_each_read_of_a_text_is_a_fresh_equal_value(obj: dict[str, Any]) -> None:
    text = dumps(obj)
    decode = dicts_decoder()
    reads = [decode(text) for _ in range(4)]  # the 1st and 2nd parse, the others are copies
    expected = json.loads(text)
    assert all(r == expected for r in reads)
    ids = [id(c) for r in reads for c in containers(r)]
    assert len(ids) == len(set(ids)), "a dict or list is shared between two reads"


def test_changing_one_read_leaves_the_next_ones_alone() -> None:
    text = dumps({"reasons": [{"code": "weekend"}], "nested": {"a": [1, [2]]}, "tz": "UTC"})
    decode = dicts_decoder()
    for _ in range(4):
        value = decode(text)
        assert value == json.loads(text)
        value["reasons"][0]["code"] = "changed"
        value["reasons"].append({})
        value["nested"]["a"][1].append(3)
        value["tz"] = None
    assert decode("{}") == {} and decode("{}") is not decode("{}")


CHARS = st.sampled_from(["a", "Z", "0", " ", "~", ":", "é", '"', "\\", "\x00", "\n", "\x7f", "€"])
STRINGS = st.lists(st.text(alphabet=CHARS, max_size=6), max_size=5).map(tuple)


@given(STRINGS)
def test_a_tuple_of_strings_is_written_as_dumps_writes_it(value: tuple[str, ...]) -> None:
    assert write_encoder()(value) == dumps(value)
    assert plain_strings(value) in (None, dumps(value))


def test_plain_strings_writes_reason_codes_and_refuses_what_needs_escaping() -> None:
    codes = (ReasonCode.WEEKEND, ReasonCode.NIGHT)
    assert plain_strings(codes) == '["weekend","night"]' == dumps(codes)
    assert plain_strings(("a", "")) == '["a",""]'
    for refused in [('a"b', "c"), ("a\\b", "c"), ("é", "c"), ("\x00", "c"), (1, 2), (), ["a"]]:
        assert plain_strings(refused) is None


@given(st.lists(st.text(), max_size=3), st.booleans())
def test_a_list_of_strings_reads_as_json_loads_reads_it(value: list[str], ascii: bool) -> None:
    """Whatever the strings (quotes, backslashes, control characters, non-ASCII), written
    escaped or not, the decoder's tuple equals `json.loads`' list; a text read twice too."""
    strings = strings_decoder()
    for text in (json.dumps(value, ensure_ascii=ascii), dumps(value)):
        assert strings(text) == tuple(json.loads(text)) == strings(text)


def test_one_plain_string_is_read_without_parsing() -> None:
    strings = strings_decoder()
    assert strings('["parent:1"]') == ("parent:1",)
    assert strings('["élève 3"]') == ("élève 3",)
    assert strings('["a\\"b"]') == ('a"b',)  # an escape: parsed
    assert strings('["a","b"]') == ("a", "b")
