"""The gate decides and shapes no response: `Gate.judge` returns `Passed`, `Held` or `Refused`;
`answers.answer` turns the last two into the 202 and error responses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _asgi_support import OPEN, QUIET, Clock

from deconnexion.core.policy import Policy
from deconnexion.core.territories import Establishment
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore
from deconnexion.web.answers import Held, Passed, Refused, answer, error_body
from deconnexion.web.gate import Gate
from deconnexion.web.identity import ScopeIdentity
from deconnexion.web.middleware import schedulers
from deconnexion.web.routes import Routes
from deconnexion.web.tenant import fixed

pytestmark = pytest.mark.anyio

ROUTES = Routes([{"path": "/api/messages", "audience": "body:audience"}])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def gate(now: float) -> Gate:
    return Gate(
        queue=HoldQueue(MemoryStore()),
        scheduler_for=schedulers(Policy.national()),
        identity=ScopeIdentity(),
        establishment=fixed(Establishment(uai="0750001A")),
        header_allowlist=["content-type"],
        clock=Clock(now),
    )


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/messages",
            "raw_path": b"/api/messages", "query_string": b"", "root_path": "",
            "headers": [(b"content-type", b"application/json")]}  # fmt: skip


async def judge(now: float, body: bytes) -> Any:
    match = ROUTES.match("POST", "/api/messages")
    assert match is not None
    return await gate(now).judge(scope(), match, body)


async def test_an_open_window_is_a_pass() -> None:
    assert isinstance(await judge(OPEN, b'{"audience": "parents"}'), Passed)


async def test_a_quiet_window_is_held_until_the_morning_and_answered_202() -> None:
    verdict = await judge(QUIET, b'{"audience": "parents"}')
    assert isinstance(verdict, Held)
    assert verdict.release_at.isoformat() == "2025-11-05T07:00:00+01:00"
    response = answer(verdict)
    assert response.status_code == 202
    assert response.headers["deconnexion-release-at"] == "2025-11-05T07:00:00+01:00"
    body = json.loads(response.body)
    assert body["held"] is True and body["id"] == verdict.id
    assert body["explanation_fr"].startswith("Diffusion")


async def test_bad_input_is_refused_with_the_one_error_body() -> None:
    verdict = await judge(QUIET, b'{"audience": "martians"}')
    assert isinstance(verdict, Refused) and verdict.status == 400
    assert "martians" in verdict.message
    response = answer(verdict)
    assert response.status_code == 400
    assert json.loads(response.body) == error_body(400, "invalid_request", verdict.message)
