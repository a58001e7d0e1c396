"""The gateway's reverse proxy and upstream deliverer, against an httpx mock upstream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from deconnexion.errors import InvalidInputError
from deconnexion.release.deliver import Delivery, DeliveryError, PermanentDeliveryError
from deconnexion.store import HeldMessage, MemoryStore
from deconnexion.web.proxy import ReverseProxy, upstream_deliverer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def proxy_to(handler: Any) -> tuple[ReverseProxy, httpx.AsyncClient]:
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    proxy = ReverseProxy("http://upstream:8080/", client=upstream)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy), base_url="http://gw")
    return proxy, client


async def test_request_and_response_pass_without_hop_by_hop_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201,
            content=b"\x00\x01created",
            headers={"Connection": "close, x-private", "X-Private": "1", "X-Kept": "yes",
                     "Keep-Alive": "timeout=5"},
        )  # fmt: skip

    _, client = proxy_to(handler)
    async with client:
        r = await client.post(
            "/api/notifications?x=1",
            content=b'{"a": 1}',
            headers={"Connection": "keep-alive, x-hop", "X-Hop": "1", "X-Request-Id": "r1"},
        )
    assert r.status_code == 201 and r.content == b"\x00\x01created"
    assert r.headers["x-kept"] == "yes"
    assert "x-private" not in r.headers and "keep-alive" not in r.headers
    [request] = seen
    assert str(request.url) == "http://upstream:8080/api/notifications?x=1"
    assert request.content == b'{"a": 1}'
    assert request.headers["x-request-id"] == "r1"
    assert "x-hop" not in request.headers
    assert request.headers["x-forwarded-host"] == "gw"


async def test_unreachable_upstream_is_502() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    _, client = proxy_to(handler)
    async with client:
        r = await client.get("/api/timeline")
    assert r.status_code == 502
    assert r.json()["error"] == "upstream_unavailable"


def held(store: MemoryStore) -> str:
    message = HeldMessage(
        id="a" * 32,
        establishment="0750001A",
        idempotency_key="sortie-1",
        collapse_key=None,
        kind="message",
        audience="parents",
        sender_role="teacher",
        urgent=False,
        priority=2,
        recipients=(),
        payload=b'{"text": "Sortie"}',
        content_type="application/json",
        meta={"http": {"method": "POST", "path": "/api/notifications", "query": "c=3B",
                       "headers": [["content-type", "application/json"]]}},
        created_at=0.0,
        release_at=1.0,
        next_attempt_at=1.0,
        reasons=("night",),
        decision={},
    )  # fmt: skip
    store.insert_many([message], now=0.0)
    return message.id


@pytest.mark.parametrize(
    ("status", "error"),
    [(201, None), (409, PermanentDeliveryError), (503, DeliveryError), (429, DeliveryError)],
)
async def test_upstream_deliverer_sends_the_held_request_again(
    status: int, error: type[Exception] | None
) -> None:
    store = MemoryStore()
    held_id = held(store)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    deliver = upstream_deliverer(client, "http://upstream", store)
    delivery = Delivery(
        idempotency_key="sortie-1",
        establishment="0750001A",
        recipients=(),
        payload=b"",
        content_type="application/json",
        release_at=datetime.now(UTC),
        ids=(held_id,),
        kinds=("message",),
    )
    if error is None:
        await deliver(delivery)
    else:
        with pytest.raises(error):
            await deliver(delivery)
    [request] = seen
    assert str(request.url) == "http://upstream/api/notifications?c=3B"
    assert request.headers["idempotency-key"] == "sortie-1"
    assert request.headers["deconnexion-held-id"] == held_id
    assert request.content == b'{"text": "Sortie"}'
    await client.aclose()


@pytest.mark.parametrize("raw", [b"@127.0.0.1:9/internal", b"*", b"http://evil/x", b"evil:80"])
async def test_the_proxy_alone_never_sends_a_non_origin_target_anywhere(raw: bytes) -> None:
    seen: list[httpx.Request] = []
    proxy, _ = proxy_to(lambda request: seen.append(request) or httpx.Response(200))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": raw.decode(), "raw_path": raw,
             "query_string": b"", "headers": [(b"host", b"gw")]}  # fmt: skip
    await proxy(scope, receive, send)
    assert sent[0]["status"] == 400 and seen == []
    assert b"origin-form" in sent[1]["body"]


async def test_a_target_httpx_would_rewrite_is_refused_others_are_sent_as_received() -> None:
    seen: list[httpx.Request] = []
    _, client = proxy_to(lambda request: seen.append(request) or httpx.Response(200))
    async with client:
        r = await client.get("/ok/%7Bx%7D?a=%22")
        assert r.status_code == 200
        assert seen[0].url.raw_path == b"/ok/%7Bx%7D?a=%22"
    proxy = ReverseProxy("http://upstream/base")
    url = proxy.upstream.url(b"/api/a%2Fb", b"q=%23")
    assert (url.host, url.raw_path) == ("upstream", b"/base/api/a%2Fb?q=%23")
    for raw in (b"/api/../x", b"/a{b}", b"/a#b"):
        with pytest.raises(InvalidInputError, match="byte for byte"):
            proxy.upstream.url(raw, b"")


@pytest.mark.parametrize(
    "upstream", ["ftp://host", "http://", "http://u:p@host", "http://host/?q=1", "host:80"]
)
def test_an_upstream_that_is_not_a_plain_http_url_is_refused(upstream: str) -> None:
    with pytest.raises(InvalidInputError, match="upstream"):
        ReverseProxy(upstream)
