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
_REASON_JSON: Table[Reason, str] = CACHES.table("stored reasons")
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


def stored_decision(d: Decision) -> JSONDict | None:
    """`decision_record(d)` with its JSON text, if every string in it can be stored; None when
    one cannot (the caller's `check_strings` then names it) or `d` holds values of other types
    than a scheduler's (the caller takes the general way, which says what is wrong)."""
    try:
        return _stored(d) if d.__class__ is Decision and d.held.__class__ is bool else None
    except Exception:  # an odd hand-built decision: the general way reports it as before
        return None


def _stored(d: Decision) -> JSONDict | None:
    s = encode_basestring
    release, created = instant(d.release_at)[0], d.created_at.isoformat()
    audience, kind = _AUDIENCES[id(d.audience)], _KINDS[id(d.kind)]
    provenance = _PROVENANCES[id(d.provenance)]
    reasons = d.reasons
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
    parts = [
        '{"held":true,"release_at":' if d.held else '{"held":false,"release_at":',
        s(release),
        ',"created_at":',
        s(created),
        ',"audience":',
        s(audience),
        ',"kind":',
        s(kind),
        ',"reasons":[',
        ",".join([_reason_json(r) for r in reasons]),
        '],"provenance":',
        s(provenance),
        ',"timezone":',
        s(d.timezone),
    ]
    if d.students_release_at is not None:
        record["students_release_at"] = text = instant(d.students_release_at)[0]
        parts += (',"students_release_at":', s(text))
    if d.notes:
        record["notes"] = notes = list(d.notes)
        parts += (',"notes":', dumps(notes))
    if d.open_until is not None:
        record["open_until"] = text = instant(d.open_until)[0]
        parts += (',"open_until":', s(text))
    if d.expires_at is not None:
        record["expires_at"] = text = instant(d.expires_at)[0]
        parts += (',"expires_at":', s(text))
    parts.append("}")
    dumped = "".join(parts)
    return json_dict(record, dumped) if storable_json(dumped) else None


def decision_codes(d: Decision) -> tuple[str, ...]:
    """`d.codes`, each code's value looked up (`_CODES`) instead of read from its property."""
    try:
        return tuple([_CODES[id(r.code)] for r in d.reasons])
    except (KeyError, TypeError, AttributeError):  # not a scheduler's reasons: as they say
        return d.codes


def _reason_json(r: Reason) -> str:
    """`dumps(r.to_dict())`, remembered for a plain `Reason` (a `ReasonCode`, text labels:
    no other reason compares equal to it)."""
    plain = (
        r.__class__ is Reason
        and r.code.__class__ is ReasonCode
        and r.label_fr.__class__ is str
        and r.label_en.__class__ is str
    )
    if not plain:
        return dumps(r.to_dict())
    found = _REASON_JSON.get(r)
    if found is None:
        found = _REASON_JSON.put(r, dumps(r.to_dict()))
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
