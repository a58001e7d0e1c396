"""The stored record of a decision and its meta, each written as JSON once.

A held message stores its decision as `Decision.to_dict(explanation=False)` (`decision_record`)
and a meta dict with `open_until`. Each simulated or gated request brings its own decision, so
its record is built, checked for strings no store can keep, and encoded by the store, once per
message: `stored_decision` builds the record and its JSON text together from the decision's
fields (the reasons' JSON remembered per `Reason`), checks the text, and hands the store both
(`JSONDict`): the store writes the text as it is.

What it buys (timeit, on the simulator's own held decisions, loaded 2-core machine): record,
check and store encoding 50 µs → 17 µs per message. The text is byte for byte
`dumps(decision_record(d))` (a Hypothesis property checks it), so the check refuses exactly
what `check_strings` refuses; anything unusual (a hand-built `Decision` with other types) gets
None and goes the general way.
"""

from __future__ import annotations

from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import Any
from zoneinfo import ZoneInfo

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.codes import Audience, Kind, Provenance, ReasonCode
from deconnexion.core.message import Decision, Reason
from deconnexion.store.codec import JSONDict, dumps, json_dict

__all__ = [
    "decision_codes",
    "decision_record",
    "instant",
    "open_until_meta",
    "storable_json",
    "stored_decision",
    "with_follows",
]

# Reason → its JSON object (a decision names a few dozen distinct reasons all term)
_REASON_JSON: Table[Reason, tuple[str, bool]] = CACHES.table("stored reasons")
# a decision's time zone name → (its JSON text, storable)
_ZONE_JSON: Table[str, tuple[str, bool]] = CACHES.table("stored zone names")
# (datetime, its zone, its fold) → its ISO text and epoch: the release instants and window
# ends that many decisions share (every message held overnight is released at 07:00)
_INSTANTS: Table[tuple[datetime, Any, int], tuple[str, float]] = CACHES.table("stored instants")
_ZONES = (ZoneInfo, timezone)  # zones whose equality says two datetimes read the same
# Each member's `.value`, looked up by the member's identity: on Python 3.11 `.value` is a
# property of `Enum`, a Python call (about 1,000 instructions, callgrind) that a held message
# made five times. By identity, only the members themselves are found: a plain string of the
# same text (a hand-built decision) goes the general way, as before.
_KINDS = {id(k): k.value for k in Kind}
_AUDIENCES = {id(a): a.value for a in Audience}
_PROVENANCES = {id(p): p.value for p in Provenance}
_CODES = {id(c): c.value for c in ReasonCode}
# and each member's value as JSON (an enum value is plain ASCII, but written by the encoder)
_KINDS_JSON = {id(k): encode_basestring(k.value) for k in Kind}
_AUDIENCES_JSON = {id(a): encode_basestring(a.value) for a in Audience}
_PROVENANCES_JSON = {id(p): encode_basestring(p.value) for p in Provenance}


def decision_record(decision: Decision) -> dict[str, Any]:
    """The stored form of a decision: `Decision.to_dict()` without the French sentence
    (rebuilt on display; formatting it costs more than storing the whole message)."""
    return decision.to_dict(explanation=False)


def storable_json(dumped: str) -> bool:
    """JSON written with `ensure_ascii=False` holds no NUL (the encoder escapes it as the text
    \\u0000) and no lone surrogate (written as it is, which UTF-8 refuses)."""
    if "\\u0000" in dumped:
        return False
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def instant(at: datetime) -> tuple[str, float]:
    """`(at.isoformat(), at.timestamp())`, remembered for a plain aware datetime.

    What it buys (callgrind, the simulator's held decisions): an aware `isoformat` costs
    about 9,000 instructions and `timestamp` 5,000, a lookup here 2,500; a decision's release
    and window end repeat across messages. Exact: a datetime equals another of the same zone
    when its wall clock fields do (fold aside, hence the fold in the key), and those fields,
    zone and fold are all `isoformat` and `timestamp` read; only `ZoneInfo` and fixed
    `timezone` zones are remembered (their equality is identity or the same offset)."""
    if at.__class__ is not datetime or at.tzinfo.__class__ not in _ZONES:
        return at.isoformat(), at.timestamp()
    key = (at, at.tzinfo, at.fold)
    found = _INSTANTS.get(key)
    if found is None:
        found = _INSTANTS.put(key, (at.isoformat(), at.timestamp()))
    return found


def stored_decision(
    d: Decision, release: str | None = None, open_until: str | None = None
) -> JSONDict | None:
    """`decision_record(d)` with its JSON text, if every string in it can be stored; None when
    one cannot (the caller's `check_strings` then names it) or `d` holds values of other types
    than a scheduler's (the caller takes the general way, which says what is wrong).
    `release`, `open_until`: `instant(d.release_at)[0]`, `instant(d.open_until)[0]` when the
    caller has them already."""
    try:
        plain = d.__class__ is Decision and d.held.__class__ is bool
        return _stored(d, release, open_until) if plain else None
    except Exception:  # an odd hand-built decision: the general way reports it as before
        return None


def _stored(d: Decision, release: str | None, open_until: str | None) -> JSONDict | None:
    """The record and its text, each part checked on its own (`storable_json` of the whole
    text is the conjunction of its parts': an escape or a character never spans two parts).

    What the parts buy (callgrind, the simulator's held decisions): the instants' and enum
    values' texts are plain ASCII, quoted without `encode_basestring` (the enum values' JSON is
    looked up); a reason's text and its check are remembered with it (`_reason_json`), a time
    zone's too; so the only check per message is of its notes, if any, instead of encoding the
    whole text to UTF-8 to find a lone surrogate."""
    if release is None:
        release = instant(d.release_at)[0]
    created = d.created_at.isoformat()
    audience, kind = _AUDIENCES[id(d.audience)], _KINDS[id(d.kind)]
    provenance = _PROVENANCES[id(d.provenance)]
    reasons = d.reasons
    timezone_json, storable = _zone_json(d.timezone)
    record: dict[str, Any] = {
        "held": d.held,
        "release_at": release,
        "created_at": created,
        "audience": audience,
        "kind": kind,
        "reasons": [
            {"code": _CODES[id(r.code)], "label_fr": r.label_fr, "label_en": r.label_en}
            if r.__class__ is Reason
            else r.to_dict()
            for r in reasons
        ],
        "provenance": provenance,
        "timezone": d.timezone,
    }
    texts = []
    for r in reasons:
        text, fine = _reason_json(r)
        texts.append(text)
        storable = storable and fine
    parts = [
        '{"held":true,"release_at":' if d.held else '{"held":false,"release_at":',
        _instant_json(d.release_at, release),
        ',"created_at":',
        _instant_json(d.created_at, created),
        ',"audience":',
        _AUDIENCES_JSON[id(d.audience)],
        ',"kind":',
        _KINDS_JSON[id(d.kind)],
        ',"reasons":[',
        ",".join(texts),
        '],"provenance":',
        _PROVENANCES_JSON[id(d.provenance)],
        ',"timezone":',
        timezone_json,
    ]
    if d.students_release_at is not None:
        record["students_release_at"] = text = instant(d.students_release_at)[0]
        parts += (',"students_release_at":', _instant_json(d.students_release_at, text))
    if d.notes:
        record["notes"] = notes = list(d.notes)
        notes_json = dumps(notes)
        parts += (',"notes":', notes_json)
        storable = storable and storable_json(notes_json)
    if d.open_until is not None:
        text = open_until if open_until is not None else instant(d.open_until)[0]
        record["open_until"] = text
        parts += (',"open_until":', _instant_json(d.open_until, text))
    if d.expires_at is not None:
        record["expires_at"] = text = instant(d.expires_at)[0]
        parts += (',"expires_at":', _instant_json(d.expires_at, text))
    parts.append("}")
    return json_dict(record, "".join(parts)) if storable else None


def _instant_json(at: datetime, text: str) -> str:
    """The JSON string of `text`, `at.isoformat()`: a plain datetime writes digits, `-`, `:`,
    `T`, `.` and its offset's sign only, nothing to escape. Another class (a subclass may
    write anything) is refused: `stored_decision` then answers None, the general way."""
    if at.__class__ is not datetime:
        raise TypeError(f"not a plain datetime: {type(at).__name__}")
    return f'"{text}"'


def _zone_json(name: Any) -> tuple[str, bool]:
    """(JSON text, storable) of a decision's time zone name, remembered per name."""
    found = _ZONE_JSON.get(name) if name.__class__ is str else None
    if found is None:
        text = encode_basestring(name)
        found = (text, storable_json(text))
        if name.__class__ is str:
            found = _ZONE_JSON.put(name, found)
    return found


def decision_codes(d: Decision) -> tuple[str, ...]:
    """`d.codes`, each code's value looked up (`_CODES`) instead of read from its property."""
    try:
        return tuple([_CODES[id(r.code)] for r in d.reasons])
    except (KeyError, TypeError, AttributeError):  # not a scheduler's reasons: as they say
        return d.codes


def _reason_json(r: Reason) -> tuple[str, bool]:
    """(`dumps(r.to_dict())`, whether it can be stored), remembered for a plain `Reason` (a
    `ReasonCode`, text labels: no other reason compares equal to it)."""
    plain = (
        r.__class__ is Reason
        and r.code.__class__ is ReasonCode
        and r.label_fr.__class__ is str
        and r.label_en.__class__ is str
    )
    if not plain:
        text = dumps(r.to_dict())
        return text, storable_json(text)
    found = _REASON_JSON.get(r)
    if found is None:
        text = dumps(r.to_dict())
        found = _REASON_JSON.put(r, (text, storable_json(text)))
    return found


def open_until_meta(at: float) -> JSONDict:
    """The meta of a request without its own: when its release window closes (epoch), with
    its JSON text (a float's JSON is its `repr`; `at` is a finite timestamp)."""
    return json_dict({"open_until": at}, f'{{"open_until":{at!r}}}')


def with_follows(meta: dict[str, Any], follows: str) -> dict[str, Any]:
    """`{**meta, "follows": follows}` (the id a parents' grade follows, checked, not a key of
    `meta`), with its JSON text when `meta` is empty or carries its own (`open_until_meta`):
    the text is `meta`'s with one more member. What it buys (callgrind, the simulator's held
    messages): a plain dict goes through `dumps`, which builds a C encoder per call, about
    29,000 instructions for these two keys; a third of the simulator's held messages
    follow their students' copy."""
    out = {**meta, "follows": follows}
    if meta.__class__ is JSONDict:
        head = meta.text[:-1]  # "{...}" without its "}"
    elif not meta and meta.__class__ is dict:
        head = "{"
    else:
        return out
    comma = "" if head == "{" else ","
    return json_dict(out, f'{head}{comma}"follows":{encode_basestring(follows)}}}')
