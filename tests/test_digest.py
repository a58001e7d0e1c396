"""Digests: French title with plural agreement and 'depuis …', kinds summary, stable key."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from deconnexion.core.timeutil import zone
from deconnexion.errors import InvalidInputError, NaiveDatetimeError
from deconnexion.release.digest import (
    DigestItem,
    digest_key,
    digest_payload,
    digest_title,
    kinds_summary_fr,
    plural_fr,
    since_fr,
)

PARIS = zone("Europe/Paris")
MONDAY_7H = datetime(2025, 11, 3, 7, 0, tzinfo=PARIS)


def at(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=PARIS)


def item(n: int, kind: str, created: datetime, payload: bytes = b'{"x": 1}') -> DigestItem:
    return DigestItem(f"id{n}", f"key{n}", kind, created, payload)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 nouveauté"), (1, "1 nouveauté"), (2, "2 nouveautés"), (12, "12 nouveautés")],
)
def test_french_plural_treats_zero_and_one_as_singular(count: int, expected: str) -> None:
    assert plural_fr(count, "nouveauté", "nouveautés") == expected


@pytest.mark.parametrize(
    ("oldest", "expected"),
    [
        (at(31, 20, 30), "vendredi soir"),
        (datetime(2025, 11, 1, 0, 30, tzinfo=PARIS), "vendredi soir"),  # after midnight
        (datetime(2025, 11, 1, 10, 0, tzinfo=PARIS), "samedi matin"),
        (datetime(2025, 11, 1, 15, 0, tzinfo=PARIS), "samedi après-midi"),
        (datetime(2025, 11, 2, 21, 0, tzinfo=PARIS), "hier soir"),
        (datetime(2025, 11, 3, 6, 0, tzinfo=PARIS), "ce matin"),
        (at(18, 9), "le 18 octobre"),  # the autumn holidays: more than a week
        (datetime(2025, 10, 1, 9, 0, tzinfo=PARIS), "le 1er octobre"),
        (datetime(2024, 12, 20, 18, 0, tzinfo=PARIS), "le 20 décembre 2024"),
    ],
)
def test_since_names_when_the_oldest_item_arrived(oldest: datetime, expected: str) -> None:
    assert since_fr(oldest, MONDAY_7H) == expected


def test_since_reads_the_time_in_the_establishments_zone() -> None:
    # 19:30 UTC on Friday is 20:30 in Paris, and 23:30 in La Réunion (still Friday evening)
    oldest = datetime(2025, 10, 31, 19, 30, tzinfo=zone("UTC"))
    assert since_fr(oldest, MONDAY_7H) == "vendredi soir"
    reunion = datetime(2025, 11, 3, 7, 0, tzinfo=zone("Indian/Reunion"))
    assert since_fr(oldest, reunion) == "vendredi soir"


def test_title_counts_items_since_the_oldest() -> None:
    items = [item(i, "grade", at(31, 21) if i == 0 else at(31, 22)) for i in range(12)]
    assert digest_title(items, MONDAY_7H) == "12 nouveautés depuis vendredi soir"


def test_kinds_summary_lists_kinds_in_a_fixed_order_with_agreement() -> None:
    kinds = ["grade", "homework", "grade", "timetable", "grade", "homework"]
    assert kinds_summary_fr(kinds) == "1 changement d'emploi du temps, 3 notes et 2 devoirs"
    assert kinds_summary_fr(["message"]) == "1 message"
    assert kinds_summary_fr(["other", "other"]) == "2 autres informations"


def test_payload_lists_every_item_in_order_with_kind_and_decoded_payload() -> None:
    items = [
        item(1, "grade", at(31, 21), b'{"note": 14}'),
        item(2, "homework", at(31, 22), b"plain text"),
    ]
    doc = json.loads(digest_payload(items, MONDAY_7H))
    assert doc["type"] == "digest"
    assert doc["title"] == "2 nouveautés depuis vendredi soir"
    assert doc["summary"] == "1 note et 1 devoir"
    assert doc["count"] == 2
    assert [i["kind"] for i in doc["items"]] == ["grade", "homework"]
    assert doc["items"][0]["payload"] == {"note": 14}
    assert doc["items"][1]["payload"] == "plain text"  # JSON content type, not JSON: text


def test_binary_payloads_survive_as_hex() -> None:
    items = [DigestItem("a", "k", "other", at(31, 21), b"\xff\x00", "application/octet-stream")]
    doc = json.loads(digest_payload(items, MONDAY_7H))
    assert doc["items"][0] == {
        "id": "a",
        "idempotency_key": "k",
        "kind": "other",
        "created_at": "2025-10-31T21:00:00+01:00",
        "content_type": "application/octet-stream",
        "payload": "ff00",
        "payload_encoding": "hex",
    }


def test_digest_key_is_stable_and_independent_of_order() -> None:
    a, b = item(1, "grade", at(31, 21)), item(2, "grade", at(31, 22))
    assert digest_key([a, b]) == digest_key([b, a])
    assert digest_key([a, b]).startswith("digest:")
    assert digest_key([a]) != digest_key([a, b])


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least one"):
        digest_payload([], MONDAY_7H)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        since_fr(datetime(2025, 10, 31, 21, 0), MONDAY_7H)
