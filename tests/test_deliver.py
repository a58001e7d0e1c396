"""Deliverers: webhook headers and status handling, file/log lines, delivery specs."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from deconnexion.core.timeutil import zone
from deconnexion.errors import InvalidInputError, NaiveDatetimeError
from deconnexion.release.deliver import (
    Delivery,
    DeliveryError,
    FileDeliverer,
    NullDeliverer,
    PermanentDeliveryError,
    WebhookDeliverer,
    parse_deliver_spec,
)

RELEASE = datetime(2025, 11, 3, 7, 0, tzinfo=zone("Europe/Paris"))


def delivery(**kw: object) -> Delivery:
    base: dict[str, object] = {
        "idempotency_key": "grade-42-parents",
        "establishment": "0750001A",
        "recipients": ("parent:7", "parent:8"),
        "payload": b'{"note": 14}',
        "content_type": "application/json",
        "release_at": RELEASE,
        "ids": ("m1",),
        "kinds": ("grade",),
        "attempt": 2,
    }
    base.update(kw)
    return Delivery(**base)  # type: ignore[arg-type]


def webhook(handler: object) -> WebhookDeliverer:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return WebhookDeliverer("https://ent.example.fr/hook", client=client)


def test_webhook_posts_payload_with_idempotency_and_establishment_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    asyncio.run(webhook(handler)(delivery()))
    (request,) = seen
    assert request.method == "POST"
    assert request.content == b'{"note": 14}'
    assert request.headers["Idempotency-Key"] == "grade-42-parents"
    assert request.headers["Deconnexion-Establishment"] == "0750001A"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Deconnexion-Recipients"] == "parent%3A7,parent%3A8"
    assert request.headers["Deconnexion-Release-At"] == "2025-11-03T07:00:00+01:00"
    assert request.headers["Deconnexion-Attempt"] == "2"


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_webhook_client_errors_are_permanent(status: int) -> None:
    hook = webhook(lambda request: httpx.Response(status))
    with pytest.raises(PermanentDeliveryError, match=str(status)):
        asyncio.run(hook(delivery()))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_webhook_server_errors_timeouts_and_throttling_are_retried(status: int) -> None:
    hook = webhook(lambda request: httpx.Response(status, headers={"Retry-After": "120"}))
    with pytest.raises(DeliveryError) as info:
        asyncio.run(hook(delivery()))
    assert not isinstance(info.value, PermanentDeliveryError)
    assert info.value.retry_after == 120.0


def test_webhook_connection_errors_are_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(DeliveryError, match="ConnectError") as info:
        asyncio.run(webhook(handler)(delivery()))
    assert not isinstance(info.value, PermanentDeliveryError)


def test_webhook_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(InvalidInputError, match="ftp://x"):
        WebhookDeliverer("ftp://x")


def test_file_deliverer_appends_one_json_line_per_delivery(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    sink = FileDeliverer(str(out))

    async def go() -> None:
        await sink(delivery())
        await sink(delivery(idempotency_key="k2", payload=b"\xff"))
        await sink.aclose()

    asyncio.run(go())
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["idempotency_key"] for line in lines] == ["grade-42-parents", "k2"]
    assert lines[0]["payload"] == '{"note": 14}'
    assert lines[1]["payload_encoding"] == "base64"


def test_log_spec_writes_to_a_stream() -> None:
    stream = io.StringIO()
    asyncio.run(FileDeliverer(stream)(delivery()))
    assert json.loads(stream.getvalue())["recipients"] == ["parent:7", "parent:8"]


def test_specs_build_the_right_deliverer() -> None:
    assert isinstance(parse_deliver_spec("null:"), NullDeliverer)
    assert isinstance(parse_deliver_spec("log:"), FileDeliverer)
    hook = parse_deliver_spec("webhook:https://ent.example.fr/hook")
    assert isinstance(hook, WebhookDeliverer) and hook.url == "https://ent.example.fr/hook"


@pytest.mark.parametrize("spec", ["webhook", "smtp:x", "file:"])
def test_bad_specs_say_what_is_accepted(spec: str) -> None:
    with pytest.raises(InvalidInputError, match=r"webhook:|file:/path"):
        parse_deliver_spec(spec)


def test_a_delivery_needs_an_aware_release_time_and_bytes() -> None:
    with pytest.raises(NaiveDatetimeError):
        delivery(release_at=datetime(2025, 11, 3, 7, 0))
    with pytest.raises(InvalidInputError, match="bytes"):
        delivery(payload="text")


def test_a_webhook_without_httpx_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from deconnexion.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "httpx" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'deconnexion\[asgi\]'"):
        parse_deliver_spec("webhook:https://ent.example.fr/hook")
