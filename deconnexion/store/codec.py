"""JSON text for the SQL stores: one encoder built once, per-batch caches, and a fast path for
the lists of one plain string (one recipient, one reason) that most messages carry."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "FreshCopies",
    "JSONDict",
    "dicts_decoder",
    "dumps",
    "json_dict",
    "plain_strings",
    "strings_decoder",
    "write_encoder",
]

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # built once
_PLAIN = re.compile(r"[ !#-\[\]-~]*").fullmatch  # printable ASCII except " and \ : no escaping


class JSONDict(dict[str, Any]):
    """A dict that carries its JSON text, `text` == `dumps(self)`, written once by whoever
    built it (the hold path, for each decision's record and meta: `deconnexion.hold
    .stored_decision`). The encoders of the SQL stores write `text` instead of encoding the
    dict again. To every other reader it is the dict it holds; nobody changes it once built
    (stores copy or encode the values they are given). Build it with `json_dict`."""

    __slots__ = ("text",)
    text: str


def json_dict(value: dict[str, Any], text: str) -> JSONDict:
    """A `JSONDict` of `value`'s items with `text` (the caller's `dumps(value)`). A function,
    not an `__init__`: the class keeps dict's own constructor, half the cost (0.5 µs instead
    of 1, timeit; two per held message)."""
    built = JSONDict(value)
    built.text = text
    return built


def write_encoder() -> Callable[[Any], str]:
    """An encoder for the rows of one write (an insert of many messages): tuples (reasons,
    recipients) cached by value, dicts by identity (decisions and meta are often one shared
    object: the caller keeps them alive while the encoder lives, so an id is never reused),
    empty dicts alike."""
    cache: dict[Any, str] = {(): "[]"}

    def enc(value: Any) -> str:
        key: object
        if value.__class__ is JSONDict:
            text: str = value.text
            return text
        if value.__class__ is tuple:
            if len(value) == 1:
                one = value[0]
                if one.__class__ is str and _PLAIN(one) is not None:
                    return f'["{one}"]'
            key = value
        elif not value and value.__class__ is dict:
            return "{}"
        else:
            key = id(value)
        found = cache.get(key)
        if found is None:
            found = cache[key] = plain_strings(value) or dumps(value)
        return found

    return enc


def plain_strings(value: Any) -> str | None:
    """`dumps(value)` for a tuple of strings of printable ASCII without `"` or `\\` (the
    reason codes and recipient lists of most messages), written without the encoder; None for
    anything else. Plain is per character, so every string is plain when their concatenation
    is. What it buys (timeit): `dumps` builds a C encoder per call (3.6 µs for two reason
    codes, loaded machine), this 1.3 µs; the simulator's batches met 13 new combinations each."""
    if value.__class__ is not tuple or not value:
        return None
    try:
        joined = "".join(value)
    except TypeError:  # not all strings
        return None
    if _PLAIN(joined) is None:
        return None
    return '["' + '","'.join(value) + '"]'


def strings_decoder() -> Callable[[str], tuple[str, ...]]:
    """A decoder for one read: JSON lists of strings to tuples, each distinct text once.

    A list of one string without a quote or a backslash inside (one recipient: every message's
    own text) is that string as it is: valid JSON holds no raw control character, and a
    character beyond ASCII stands for itself. Two scans for a character instead of `_PLAIN`'s
    pattern: 1,500 instructions less per released message (callgrind, SQLite, 12,500 messages)."""
    seen: dict[str, tuple[str, ...]] = {"[]": ()}

    def strings(text: str) -> tuple[str, ...]:
        found = seen.get(text)
        if found is None:
            inner = text[2:-2]
            if text[:2] == '["' and text[-2:] == '"]' and '"' not in inner and "\\" not in inner:
                found = (inner,)
            else:
                found = tuple(json.loads(text))
            seen[text] = found
        return found

    return strings


def dicts_decoder() -> Callable[[str], dict[str, Any]]:
    """A decoder for one read: JSON objects to dicts, never shared between calls (a caller
    may change its copy). A text seen twice (a batch shares its decision) is kept as a
    `FreshCopies` of its value, which gives each later call its own copy."""
    seen: dict[str, FreshCopies | None] = {}

    def decode(text: str) -> dict[str, Any]:
        if text == "{}":
            return {}
        copies = seen.get(text, _UNSEEN)
        if copies.__class__ is FreshCopies:
            found: dict[str, Any] = copies()
            return found
        value: dict[str, Any] = json.loads(text)
        seen[text] = None if copies is _UNSEEN else FreshCopies(value)  # copies it
        return value

    return decode


_UNSEEN: Any = object()  # dicts_decoder: a text not met yet


def _container(value: object) -> bool:
    return value.__class__ is dict or value.__class__ is list


def _copied(value: Any) -> Any:
    """A parsed JSON value with new dicts and lists all the way down (strings, numbers,
    booleans and None are immutable: shared)."""
    if value.__class__ is dict:
        out = value.copy()
        for key, item in value.items():
            if _container(item):
                out[key] = _copied(item)
        return out
    if value.__class__ is list:
        return [_copied(item) if _container(item) else item for item in value]
    return value


class FreshCopies:
    """Copies of one parsed JSON object, each as a fresh parse would give it: its own dicts
    and lists, sharing only immutable leaves. Built from a template kept here and never
    handed out: its `copy()` plus new containers where it nests (a list of flat dicts, a
    decision's reasons, copied in one comprehension). A claimed batch's decision costs 5,300
    instructions this way instead of 15,200 with `marshal.loads` of a dumped blob and 30,500
    with `json.loads` (callgrind, the decision of benchmarks/queue.py)."""

    __slots__ = ("_nested", "_template")

    def __init__(self, value: dict[str, Any]) -> None:
        self._template: dict[str, Any] = _copied(value)  # its own, whatever the caller does
        self._nested = [
            (key, item, _flat_dicts(item))
            for key, item in self._template.items()
            if _container(item)
        ]

    def __call__(self) -> dict[str, Any]:
        out = self._template.copy()
        for key, item, flat in self._nested:
            out[key] = [d.copy() for d in item] if flat else _copied(item)
        return out


def _flat_dicts(value: Any) -> bool:
    """A list of dicts holding no container: each copied by `dict.copy`."""
    return value.__class__ is list and all(
        d.__class__ is dict and not any(map(_container, d.values())) for d in value
    )
