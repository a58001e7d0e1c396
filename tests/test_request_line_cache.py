"""The "request lines" cache of `deconnexion.web.request_line`: a line judged from the cache is
the line judged afresh, a refused target is never kept, and nothing of one sender or one
establishment reaches another's request through it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from deconnexion.core.caches import CACHES
from deconnexion.core.territories import Establishment
from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store.memory import MemoryStore
from deconnexion.web import request_line
from deconnexion.web.identity import SenderUser
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.request_line import REQUEST_LINE_KEY, judged_line
from deconnexion.web.tenant import from_sender

# Tuesday 17 February 2026: zone C (Paris) at school, zone B (Strasbourg) on winter holidays.
PARIS_AT_SCHOOL_STRASBOURG_ON_HOLIDAY = datetime(
    2026, 2, 17, 10, 0, tzinfo=ZoneInfo("Europe/Paris")
).timestamp()


def scope(raw: bytes, path: str, query: bytes = b"", method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": raw,
        "root_path": "",
        "query_string": query,
        "headers": [],
    }


ACCEPTED = [
    (b"/api/messages", "/api/messages", b""),
    (b"/api/messages/", "/api/messages/", b"x=1"),
    (b"/API/Messages", "/API/Messages", b""),
    (b"/api/m%65ssages", "/api/messages", b""),
    (b"/api/grades/%C3%A9/publish", "/api/grades/é/publish", b"a=%23"),
]


@pytest.mark.parametrize(("raw", "path", "query"), ACCEPTED)
def test_a_line_from_the_cache_is_the_line_judged_afresh(
    raw: bytes, path: str, query: bytes
) -> None:
    CACHES.clear()
    first = judged_line(scope(raw, path, query))
    assert len(CACHES.table("request lines")) == 1
    again = judged_line(scope(raw, path, query))
    assert again is first  # from the cache
    assert again == request_line._canonical(scope(raw, path, query))


def test_the_line_is_kept_in_the_scope_it_was_judged_for() -> None:
    s = scope(b"/api/messages", "/api/messages")
    assert s.get(REQUEST_LINE_KEY) is None
    assert judged_line(s) is s[REQUEST_LINE_KEY]


@pytest.mark.parametrize(
    ("raw", "path"),
    [(b"/api/./messages", "/api/messages"), (b"/api/%2Fmessages", "/api//messages")],
)
def test_a_refused_target_is_refused_every_time_and_never_kept(raw: bytes, path: str) -> None:
    CACHES.clear()
    for _ in range(2):
        with pytest.raises(InvalidInputError, match="request target"):
            judged_line(scope(raw, path))
    assert len(CACHES.table("request lines")) == 0


def test_two_spellings_of_one_path_keep_their_own_bytes() -> None:
    CACHES.clear()
    plain = judged_line(scope(b"/api/messages", "/api/messages"))
    encoded = judged_line(scope(b"/api/m%65ssages", "/api/messages"))
    assert plain.path == encoded.path == "/api/messages"
    assert (plain.raw_path, encoded.raw_path) == (b"/api/messages", b"/api/m%65ssages")


def test_a_line_judged_for_one_method_is_not_the_line_of_another() -> None:
    CACHES.clear()
    assert judged_line(scope(b"/api/messages", "/api/messages")).method == "POST"
    assert judged_line(scope(b"/api/messages", "/api/messages", method="PUT")).method == "PUT"


def test_a_server_value_that_cannot_be_hashed_is_judged_not_a_500() -> None:
    CACHES.clear()
    odd = scope(b"", "/api/messages")
    odd["raw_path"] = bytearray(b"/api/x")  # outside the ASGI spec: judged without the cache
    assert judged_line(odd).raw_path == b"/api/messages"  # from `path`, as before the cache
    assert len(CACHES.table("request lines")) == 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_one_establishments_open_window_never_passes_anothers_request() -> None:
    """Same request line, same instant: the Paris teacher's message passes (at school), the
    Strasbourg teacher's is held (holidays), in either order."""
    store = MemoryStore()
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["user"].uai)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    gate = DeconnexionMiddleware(
        app,
        queue=HoldQueue(store),
        routes=[{"path": "/api/messages", "audience": "body:audience"}],
        establishment=from_sender(),
        clock=lambda: PARIS_AT_SCHOOL_STRASBOURG_ON_HOLIDAY,
    )
    users = {
        "0750001A": SenderUser("m.martin", "teacher", "0750001A"),
        "0671234X": SenderUser("mme.weber", "teacher", "0671234X"),
    }

    async def post(uai: str) -> int:
        body = b'{"audience": "parents"}'
        s = scope(b"/api/messages", "/api/messages") | {"user": users[uai]}
        sent = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return sent.pop(0) if sent else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await gate(s, receive, send)
        return status[0]

    for order in (["0750001A", "0671234X"], ["0671234X", "0750001A"]):
        CACHES.clear()
        statuses = {uai: [await post(uai), await post(uai)] for uai in order}
        assert statuses == {"0750001A": [201, 201], "0671234X": [202, 202]}
    assert set(reached) == {"0750001A"}
    assert len(store.list("0671234X", ["held"])) == 1  # one body, one digest: held once
    assert Establishment(uai="0671234X").key == "0671234X"
