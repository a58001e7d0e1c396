"""deconnexion.core.text: the one check of every text field, and the justification rule, as
the Python API, the middleware and the gateway all see it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from _asgi_support import QUIET
from test_middleware import Setup
from test_queue import request

from deconnexion.core import text
from deconnexion.core.message import Audience, Kind, Message
from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore

pytestmark = pytest.mark.anyio
RECIPIENTS = "recipients (from body:recipients)"

BAD_IDENTIFIERS = {
    "nul": ("a\x00b", "NUL (U+0000)"),
    "surrogate": ("a\ud800b", "lone surrogate (U+D800)"),
    "newline": ("a\nb", "control character U+000A"),
    "escape": ("a\x1bb", "control character U+001B"),
    "zero-width": ("a\u200bb", "U+200B ZERO WIDTH SPACE"),
    "bidi override": ("a\u202eb", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "line separator": ("a\u2028b", "U+2028 LINE SEPARATOR"),
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("value,named", BAD_IDENTIFIERS.values(), ids=list(BAD_IDENTIFIERS))
def test_an_identifier_with_an_invisible_or_control_character_is_refused_escaped(
    value: str, named: str
) -> None:
    with pytest.raises(InvalidInputError) as exc:
        text.identifier(value, "recipients[0]", 512)
    message = str(exc.value)
    assert message.startswith("recipients[0]: ")
    assert named in message
    assert repr(value) in message  # the value, escaped
    assert "expected visible characters on one line" in message
    assert "\x00" not in message and "\n" not in message


def test_free_text_keeps_newlines_and_tabs_but_not_nul_or_surrogates() -> None:
    assert text.text("ligne 1\nligne 2\tfin\r\n", "body", 100) == "ligne 1\nligne 2\tfin\r\n"
    for bad in ("a\x00", "a\ud800", "a\x07"):
        with pytest.raises(InvalidInputError, match="expected text without NUL"):
            text.text(bad, "body", 100)


def test_a_too_long_field_says_the_limit_and_shows_only_the_start() -> None:
    with pytest.raises(InvalidInputError, match="1000 characters; at most 512") as exc:
        text.identifier("k" * 1000, "idempotency_key", 512)
    assert len(str(exc.value)) < 300


@pytest.mark.parametrize("empty", ["\u200b", "\x00", ".", "…!?", "-- --", "ok", "\u200b\u200b."])
def test_a_justification_without_visible_words_is_refused_with_the_rule(empty: str) -> None:
    with pytest.raises(InvalidInputError, match="at least 3 letters or digits"):
        Message(
            kind=Kind.MESSAGE,
            audience=Audience.PARENTS,
            created_at=datetime(2025, 11, 4, 21, tzinfo=UTC),
            urgent=True,
            justification=empty,
        )


@pytest.mark.parametrize("fine", ["Alerte météo", "Collège fermé", "火事だ", "RDV 8h"])
def test_a_justification_with_words_in_any_script_is_kept(fine: str) -> None:
    assert text.justification(f"  {fine} ") == fine


def test_a_blank_justification_is_no_justification() -> None:
    assert text.justification(" \t ") is None


@pytest.mark.parametrize(
    "field,value",
    [
        ("recipients", ("eleve:1", "eleve:\x002")),
        ("recipients", ("eleve:\ud8001",)),
        ("idempotency_key", "k\x00"),
        ("collapse_key", "c\u202e"),
        ("actor", "m.martin\n"),
        ("content_type", "text/plain\x00"),
    ],
)
def test_the_python_api_refuses_each_bad_text_field_before_any_write(
    field: str, value: Any
) -> None:
    queue = HoldQueue(MemoryStore())
    with pytest.raises(InvalidInputError, match=field):
        queue.hold_many([request("ok"), request("bad", **{field: value})])
    assert queue.store.list("0750001A", None) == []


def test_meta_a_store_cannot_keep_is_refused_naming_where() -> None:
    queue = HoldQueue(MemoryStore())
    with pytest.raises(InvalidInputError, match=r"meta\.http\.path: .*NUL"):
        queue.hold_many([request("bad", meta={"http": {"path": "/api/x\x00"}})])


# -- through the middleware: 400 naming the field, where it was read, and the rule ----------


@pytest.mark.parametrize(
    "body,field",
    [
        (
            {"audience": "parents", "recipients": ["eleve:\u0000"]},
            "recipients (from body:recipients)",
        ),
        (
            b'{"audience": "parents", "recipients": ["a\\ud800"]}',
            "recipients (from body:recipients)",
        ),
        ({"audience": "parents", "recipients": "a\nb"}, RECIPIENTS),
        ({"audience": "parents", "collapse_key": "c\x00"}, "collapse_key (from body:collapse_key)"),
    ],
)
async def test_a_bad_text_field_in_a_request_is_400_naming_it(body: Any, field: str) -> None:
    routes = [
        {
            "path": "/api/notifications",
            "audience": "body:audience",
            "kind": "message",
            "recipients": "body:recipients",
            "collapse_key": "body:collapse_key",
        }
    ]
    s = Setup(QUIET, routes=routes)
    async with s.client() as c:
        if isinstance(body, bytes):  # a JSON escape of a lone surrogate
            r = await c.post("/api/notifications", content=body)
        else:
            r = await c.post("/api/notifications", json=body)
    assert r.status_code == 400
    assert r.json()["message"].startswith(field)
    assert "expected visible characters on one line" in r.json()["message"]
    assert s.held() == []


@pytest.mark.parametrize("justification", ["%E2%80%8B", "%00", "."])
async def test_an_empty_urgent_justification_is_400_saying_the_rule(justification: str) -> None:
    s = Setup(QUIET)
    async with s.client() as c:
        r = await c.post(
            "/api/notifications",
            json={"audience": "parents"},
            headers={
                "Authorization": "chef",
                "Deconnexion-Urgent": "1",
                "Deconnexion-Justification": justification,
            },
        )
    assert r.status_code == 400, r.text
    assert "justification (from header:deconnexion-justification)" in r.json()["message"].lower()
    assert "at least 3 letters or digits" in r.json()["message"]
    assert s.held() == [] and s.upstream.seen == []


async def test_a_nul_in_the_path_is_400_not_a_failed_batch() -> None:
    s = Setup(QUIET)
    async with s.client() as c:
        r = await c.post("/api/grades/1%002/publish", json={"audience": "students"})
    assert r.status_code == 400
    assert "1%002" in r.json()["message"]  # refused with the request line, before any field
    assert s.held() == []
