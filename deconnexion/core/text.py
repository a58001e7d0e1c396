"""The one check every text a caller hands in goes through, before it is decided or stored.

Two shapes of text:

- an *identifier* (idempotency and collapse keys, recipients, establishment keys, actors,
  content types, path parameters): one line of visible characters, no control (Cc), format
  (Cf: zero-width, bidi overrides), surrogate (Cs) or line/paragraph separator characters;
- a *text* (a justification, a message body): any characters but NUL, lone surrogates and
  control characters other than tab, line feed and carriage return.

Both have a length limit per field. `stored_text` is the floor every string kept in a JSON
record must pass (meta, audit details): no NUL and no lone surrogate, which no store can keep
(SQLite cannot encode a surrogate, PostgreSQL refuses NUL in text and jsonb).

A justification must also say something: `justification` asks for at least
`MIN_JUSTIFICATION_CHARS` letters or digits (any script), so a zero-width space, a NUL or "."
is refused, not taken as a reason to diffuse in a quiet window.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from deconnexion.errors import InvalidInputError

__all__ = [
    "IDENTIFIER_RULE",
    "JUSTIFICATION_RULE",
    "MAX_JUSTIFICATION_LENGTH",
    "MIN_JUSTIFICATION_CHARS",
    "TEXT_RULE",
    "identifier",
    "justification",
    "shown",
    "stored_text",
    "text",
]

MIN_JUSTIFICATION_CHARS = 3
MAX_JUSTIFICATION_LENGTH = 1000
IDENTIFIER_RULE = (
    "visible characters on one line: no control, zero-width, bidi-override or surrogate characters"
)
TEXT_RULE = "text without NUL, lone surrogates or control characters other than tab and newlines"
JUSTIFICATION_RULE = (
    f"a justification of at least {MIN_JUSTIFICATION_CHARS} letters or digits (zero-width, "
    f"control characters and punctuation alone do not count), at most "
    f"{MAX_JUSTIFICATION_LENGTH} characters"
)
_ID_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_TEXT_ALLOWED_CONTROLS = frozenset("\t\n\r")
_KINDS = {
    "Cc": "the control character",
    "Cf": "the invisible format character",
    "Zl": "the line separator",
    "Zp": "the paragraph separator",
}


def shown(value: Any, limit: int = 60) -> str:
    """`value` as a Python literal (every control or invisible character escaped), cut to
    `limit` characters: safe to put in an error message or a log line."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 20 else text[: limit + 20] + "…"


def _name(ch: str) -> str:
    code = ord(ch)
    if code == 0:
        return "NUL (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    kind = _KINDS.get(unicodedata.category(ch), "the character")
    return f"{kind} U+{code:04X} {unicodedata.name(ch, '')}".rstrip()


def _refuse(field: str, value: str, ch: str, at: int, rule: str) -> InvalidInputError:
    return InvalidInputError(
        f"{field}: {shown(value)} contains {_name(ch)} at position {at}; expected {rule}"
    )


def _length(field: str, value: str, limit: int, rule: str) -> None:
    if len(value) > limit:
        raise InvalidInputError(
            f"{field}: {shown(value)} is {len(value)} characters; at most {limit} accepted ({rule})"
        )


def identifier(value: str, field: str, limit: int) -> str:
    """`value` if it is an acceptable identifier of at most `limit` characters."""
    _length(field, value, limit, IDENTIFIER_RULE)
    if value.isprintable():  # the common case: no Cc, Cf, Cs, Z* but the space
        return value
    for at, ch in enumerate(value):
        if unicodedata.category(ch) in _ID_BAD_CATEGORIES:
            raise _refuse(field, value, ch, at, IDENTIFIER_RULE)
    return value  # only non-ASCII spaces, which are visible enough


def text(value: str, field: str, limit: int, rule: str = TEXT_RULE) -> str:
    """`value` if it is acceptable free text of at most `limit` characters (`rule`: what
    the error says is accepted)."""
    _length(field, value, limit, rule)
    if value.isprintable():
        return value
    for at, ch in enumerate(value):
        category = unicodedata.category(ch)
        if (category == "Cc" and ch not in _TEXT_ALLOWED_CONTROLS) or category == "Cs":
            raise _refuse(field, value, ch, at, rule)
    return value


def stored_text(value: str, field: str) -> str:
    """`value` if a store can keep it (no NUL, no lone surrogate); no length limit."""
    if "\x00" in value:
        raise _refuse(field, value, "\x00", value.index("\x00"), TEXT_RULE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(field, value, value[exc.start], exc.start, TEXT_RULE) from None
    return value


def justification(value: str | None, field: str = "justification") -> str | None:
    """A justification stripped of surrounding spaces; None for a blank one (no
    justification given); refused when it has no visible words."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    text(value, field, MAX_JUSTIFICATION_LENGTH, f"{JUSTIFICATION_RULE}, {TEXT_RULE}")
    if sum(ch.isalnum() for ch in value) < MIN_JUSTIFICATION_CHARS:
        raise InvalidInputError(
            f"{field}: {shown(value)} says nothing; expected {JUSTIFICATION_RULE}"
        )
    return value
