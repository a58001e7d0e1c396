"""Digests: everything held for one recipient, released together, as one notification.

"12 nouveautés depuis vendredi soir" followed by the list of items. The title counts the items
with French plural agreement and names when the oldest one arrived, relative to the release
("depuis hier soir", "depuis vendredi soir", "depuis le 1er novembre"). Pure functions.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from deconnexion.core.timeutil import aware
from deconnexion.errors import InvalidInputError

__all__ = ["DigestItem", "digest_key", "digest_payload", "digest_title", "kinds_summary_fr"]

WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip

# kind -> (singular, plural), in the order a summary lists them
KIND_LABELS_FR: dict[str, tuple[str, str]] = {
    "timetable": ("changement d'emploi du temps", "changements d'emploi du temps"),
    "absence": ("absence", "absences"),
    "grade": ("note", "notes"),
    "homework": ("devoir", "devoirs"),
    "message": ("message", "messages"),
    "announcement": ("annonce", "annonces"),
    "other": ("autre information", "autres informations"),
}


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One held message inside a digest."""

    id: str
    idempotency_key: str
    kind: str
    created_at: datetime
    payload: bytes
    content_type: str = "application/json"


def plural_fr(count: int, singular: str, plural: str) -> str:
    """'1 nouveauté', '0 nouveauté', '12 nouveautés' (French: 0 and 1 are singular)."""
    return f"{count} {singular if count <= 1 else plural}"


def _moment(hour: int) -> str:
    if hour < 12:
        return "matin"
    if hour < 18:
        return "après-midi"
    return "soir"


def since_fr(oldest: datetime, release: datetime) -> str:
    """When the oldest item arrived, said from the release's point of view (its time zone).

    Before 05:00 still counts as the previous evening: a message sent at 00:30 on Saturday
    arrived "vendredi soir".
    """
    local = aware(oldest, "oldest").astimezone(aware(release, "release").tzinfo)
    if local.hour < 5:
        local = (local - timedelta(days=1)).replace(hour=23, minute=0)
    moment = _moment(local.hour)
    days = (release.date() - local.date()).days
    if days <= 0:
        return {"matin": "ce matin", "après-midi": "cet après-midi", "soir": "ce soir"}[moment]
    if days == 1:
        return f"hier {moment}"
    if days < 7:
        return f"{WEEKDAYS_FR[local.weekday()]} {moment}"
    day = "1er" if local.day == 1 else str(local.day)
    year = f" {local.year}" if local.year != release.year else ""
    return f"le {day} {MONTHS_FR[local.month - 1]}{year}"


def digest_title(items: Sequence[DigestItem], release: datetime) -> str:
    """'12 nouveautés depuis vendredi soir'."""
    oldest = min(item.created_at for item in items)
    return f"{plural_fr(len(items), 'nouveauté', 'nouveautés')} depuis {since_fr(oldest, release)}"


def kinds_summary_fr(kinds: Sequence[str]) -> str:
    """'1 changement d'emploi du temps, 3 notes et 2 devoirs' (fixed kind order)."""
    counts = Counter(kinds)
    order = list(KIND_LABELS_FR) + sorted(k for k in counts if k not in KIND_LABELS_FR)
    parts = []
    for kind in order:
        if counts.get(kind):
            singular, plural = KIND_LABELS_FR.get(kind, (kind, kind))
            parts.append(plural_fr(counts[kind], singular, plural))
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " et " + parts[-1]


def digest_key(items: Sequence[DigestItem]) -> str:
    """Idempotency key of a digest: the same items give the same key, in any order."""
    keys = sorted(item.idempotency_key for item in items)
    return "digest:" + hashlib.sha256("\x1f".join(keys).encode("utf-8")).hexdigest()[:32]


def _item_json(item: DigestItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "idempotency_key": item.idempotency_key,
        "kind": item.kind,
        "created_at": item.created_at.isoformat(),
        "content_type": item.content_type,
    }
    if item.content_type.startswith("application/json"):
        try:
            out["payload"] = json.loads(item.payload)
            return out
        except ValueError:
            pass
    try:
        out["payload"] = item.payload.decode("utf-8")
    except UnicodeDecodeError:
        out["payload"] = item.payload.hex()
        out["payload_encoding"] = "hex"
    return out


def digest_payload(items: Sequence[DigestItem], release: datetime) -> bytes:
    """The JSON body of a digest: title, summary, count and the items in arrival order."""
    if not items:
        raise InvalidInputError("digest items: got none; expected at least one held message")
    doc = {
        "type": "digest",
        "title": digest_title(items, release),
        "summary": kinds_summary_fr([item.kind for item in items]),
        "count": len(items),
        "release_at": release.isoformat(),
        "items": [_item_json(item) for item in items],
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
