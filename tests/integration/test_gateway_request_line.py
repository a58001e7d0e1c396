"""The gateway judges exactly what it forwards, for real: uvicorn on 127.0.0.1 in front of a
recording upstream, request lines sent as raw bytes at 22:00 on a school night.

Every spelling of a gated request (dot segments, fragments, encoded separators, lower-case
method, absolute and authority forms, `@host` targets…) is either held (202) or refused (400);
none reaches the upstream, none reaches another host, none is a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _gateway_support import Recorder, Served, raw_http

from deconnexion.store import open_store
from deconnexion.web.gateway import Gateway
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver

pytestmark = pytest.mark.slow

SECRET = "e2e-secret-0123456789abcdef"
QUIET = 1762290000.0  # Tuesday 2025-11-04 22:00 Europe/Paris
RELEASE = 1762322400.0  # Wednesday 2025-11-05 07:00 Europe/Paris
BODY = json.dumps({"kind": "message", "audience": "parents", "text": "Sortie"}).encode()
JSON = {"Content-Type": "application/json"}
ROUTES = {
    "default_uai": "0750001A",
    "routes": [
        {"path": "/api/grades/{id}/publish", "kind": "grade", "audience": "body:audience"},
        {"path": "/api/messages", "audience": "body:audience"},
        {"path": "/api/homework/{id}", "methods": ["POST", "PUT"], "audience": "students"},
    ],
}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self, upstream: Recorder, gateway: Served, internal: Recorder, clock: Clock):
        self.upstream, self.gateway, self.internal, self.clock = upstream, gateway, internal, clock
        self.internal_port = 0

    def send(self, line: bytes, headers: dict[str, str] | None = None, body: bytes = BODY) -> Any:
        return raw_http(self.gateway.port, line, {**JSON, **(headers or {})}, body)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    upstream, internal, clock = Recorder(), Recorder(), Clock(QUIET)
    store = open_store(f"sqlite:///{tmp_path / 'held.db'}")
    with Served(upstream) as up, Served(internal) as inside:
        gateway = Gateway(
            upstream=up.url,
            store=store,
            config=RouteRules.model_validate(ROUTES),
            identity=SignedHeaderResolver(SECRET, clock=clock),
            clock=clock,
            worker_options={"poll_interval": 0.1},
        )
        try:
            with Served(gateway, gateway=True) as gw:
                s = Setup(upstream, gw, internal, clock)
                s.internal_port = inside.port
                yield s
        finally:
            store.close()


def test_every_spelling_of_a_gated_request_is_held_or_refused_never_forwarded(
    setup: Setup,
) -> None:
    inside = setup.internal_port
    bypasses = {
        b"POST /api/./messages HTTP/1.1": 400,
        b"POST /api/x/../messages HTTP/1.1": 400,
        b"POST /api/messages#x HTTP/1.1": 400,
        b"POST /api/grades/12/x/../publish HTTP/1.1": 400,
        b"POST /api/grades/12/%2E%2E/12/publish HTTP/1.1": 400,
        b"POST /api/%2e/messages HTTP/1.1": 400,
        b"POST /api%2Fmessages HTTP/1.1": 400,
        b"POST /api%5Cmessages HTTP/1.1": 400,
        b"POST /api\\messages HTTP/1.1": 400,
        b"POST //api/messages HTTP/1.1": 400,
        b"POST /api//messages HTTP/1.1": 400,
        b"POST /api/messages;jsessionid=1 HTTP/1.1": 400,
        b"POST /api/messages%00 HTTP/1.1": 400,
        b"POST /api/messages%00.json HTTP/1.1": 400,
        b"post /api/messages HTTP/1.1": 400,
        b"Post /api/grades/12/publish HTTP/1.1": 400,
        b"POST * HTTP/1.1": 400,
        b"POST @127.0.0.1:%d/internal HTTP/1.1" % inside: 400,
        b"POST @127.0.0.1:%d/api/messages HTTP/1.1" % inside: 400,
        b"POST http://127.0.0.1:%d/api/messages HTTP/1.1" % inside: 400,
        b"POST http://gateway.test/api/messages HTTP/1.1": 400,
        b"POST 127.0.0.1:%d HTTP/1.1" % inside: 400,
        b"POST /API/Messages HTTP/1.1": 202,
        b"POST /api/messages/ HTTP/1.1": 202,
        b"POST /api/%6Dessages HTTP/1.1": 202,
        b"POST /api/grades/12/publish?x=%23 HTTP/1.1": 202,
        b"PUT /api/homework/7 HTTP/1.1": 202,
    }
    answers = {line: setup.send(line) for line in bypasses}
    got = {line: a.status for line, a in answers.items()}
    assert got == bypasses
    for line, answer in answers.items():
        assert json.loads(answer.body)["message" if answer.status == 400 else "held"], line
    # Override headers are dropped: a GET stays a GET, and is not gated.
    setup.send(b"GET /api/messages HTTP/1.1", {"X-HTTP-Method-Override": "POST"}, b"")
    time.sleep(0.3)  # anything forwarded would have arrived
    assert setup.internal.seen() == []
    seen = setup.upstream.seen()
    assert [(r.method, r.raw_path) for r in seen] == [("GET", b"/api/messages")]
    assert seen[0].header(b"x-http-method-override") == []


def test_a_non_gated_request_is_forwarded_byte_for_byte_and_transparently(setup: Setup) -> None:
    r = setup.send(
        b"PUT /api/grades/a%3Fb%23c%25d%252F?q=%23&r=%2F HTTP/1.1",
        {"Connection": "close, x-hop", "X-Hop": "1", "TE": "trailers", "X-Request-Id": "r1"},
        b'{"note": 12}',
    )
    assert r.status == 200 and b"upstream" in r.body
    [seen] = setup.upstream.seen()
    assert (seen.method, seen.raw_path, seen.query) == (
        "PUT",
        b"/api/grades/a%3Fb%23c%25d%252F",
        b"q=%23&r=%2F",
    )
    assert seen.body == b'{"note": 12}'
    assert seen.header(b"x-request-id") == [b"r1"]
    for added in (b"accept-encoding", b"user-agent", b"accept", b"cookie"):
        assert seen.header(added) == [], added  # nothing the client did not send
    for hop in (b"x-hop", b"te"):
        assert seen.header(hop) == [], hop
    assert len(r.header(b"date")) == 1 and len(r.header(b"server")) == 1  # the upstream's
    assert r.header(b"x-kept") == [b"yes"]
    assert r.header(b"x-private") == []  # named by the upstream's Connection header
    assert r.header(b"set-cookie") == [b"session=secret-of-the-previous-caller"]


def test_the_client_library_adds_no_accept_encoding_and_keeps_no_cookie(setup: Setup) -> None:
    setup.send(b"GET /api/timeline HTTP/1.1", {"Accept-Encoding": "identity"}, b"")
    setup.send(b"GET /api/timeline HTTP/1.1", {}, b"")  # another caller, after a Set-Cookie
    first, second = setup.upstream.seen()
    assert first.header(b"accept-encoding") == [b"identity"]
    assert second.header(b"accept-encoding") == []
    assert second.header(b"cookie") == []


def test_the_gateways_own_answers_carry_one_date_and_no_server(setup: Setup) -> None:
    held = setup.send(b"POST /api/messages HTTP/1.1")
    refused = setup.send(b"POST * HTTP/1.1")
    for answer in (held, refused):
        assert len(answer.header(b"date")) == 1
        assert answer.header(b"server") == []


def test_a_held_request_is_sent_again_with_its_path_and_query_byte_identical(
    setup: Setup,
) -> None:
    target = b"/api/homework/a%3Fb%23c%25d%252F%C3%A9"
    held = setup.send(b"POST " + target + b"?x=%23&y=%25 HTTP/1.1")
    assert held.status == 202, held.body
    time.sleep(0.3)
    assert setup.upstream.seen() == []
    setup.clock.now = RELEASE + 1
    deadline = time.monotonic() + 15
    while not setup.upstream.seen():
        assert time.monotonic() < deadline, "not released"
        time.sleep(0.05)
    [sent] = setup.upstream.seen()
    assert (sent.method, sent.raw_path, sent.query) == ("POST", target, b"x=%23&y=%25")
    assert sent.body == BODY
