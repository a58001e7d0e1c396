"""JSON text for the SQL stores: one encoder built once, per-batch caches, and a fast path for
the lists of one plain string (one recipient, one reason) that most messages carry."""

from __future__ import annotations

import json
import marshal
import re
from collections.abc import Callable
from typing import Any

__all__ = ["JSONDict", "dicts_decoder", "dumps", "json_dict", "strings_decoder", "write_encoder"]

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
            found = cache[key] = dumps(value)
        return found

    return enc


def strings_decoder() -> Callable[[str], tuple[str, ...]]:
    """A decoder for one read: JSON lists of strings to tuples, each distinct text once."""
    seen: dict[str, tuple[str, ...]] = {"[]": ()}

    def strings(text: str) -> tuple[str, ...]:
        found = seen.get(text)
        if found is None:
            inner = text[2:-2]
            if text[:2] == '["' and text[-2:] == '"]' and _PLAIN(inner) is not None:
                found = (inner,)
            else:
                found = tuple(json.loads(text))
            seen[text] = found
        return found

    return strings


def dicts_decoder() -> Callable[[str], dict[str, Any]]:
    """A decoder for one read: JSON objects to dicts, never shared between calls (a caller
    may change its copy). A text seen twice (a batch shares its decision) is kept as a
    `marshal` blob of its parsed value: loading that builds the same fresh dict about twice
    as fast as parsing the JSON again."""
    seen: dict[str, bytes | None] = {}

    def decode(text: str) -> dict[str, Any]:
        if text == "{}":
            return {}
        blob = seen.get(text, b"")
        if blob:
            value: dict[str, Any] = marshal.loads(blob)
            return value
        value = json.loads(text)
        seen[text] = None if blob == b"" else marshal.dumps(value)
        return value

    return decode
