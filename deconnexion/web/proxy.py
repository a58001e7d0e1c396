"""A streaming reverse proxy (httpx) to the upstream notification service, and the deliverer
that replays held requests to it.

Request and response bodies are streamed chunk by chunk, never buffered; hop-by-hop headers
(RFC 9110 §7.6.1, and those named by `Connection`) are dropped both ways, and so are
method-override headers on the way in. The upstream request is built from components: the
upstream's scheme, host and port, and the request target exactly as the gate judged it
(`deconnexion.web.request_line`); a target that is not origin-form, or that httpx would send
otherwise, is refused with 400. Nothing is added but ``Host`` and ``X-Forwarded-*``: no
``Accept-Encoding``, ``User-Agent`` or cookie of the client library. Upstream failures become
502/504 JSON answers.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import AsyncIterator, Callable
from typing import Any

from deconnexion.errors import (
    DeliveryError,
    InvalidInputError,
    MissingExtraError,
    PermanentDeliveryError,
    retryable_status,
)
from deconnexion.release.deliver import Deliverer, Delivery
from deconnexion.store.base import HoldStore
from deconnexion.web._http import ASGIApp, Receive, Scope, Send
from deconnexion.web.answers import error_response
from deconnexion.web.replay import held_requests
from deconnexion.web.request_line import METHOD_OVERRIDES, forwarded_target

try:
    import httpx
except ImportError as exc:  # pragma: no cover - the dev environment has the extra
    raise MissingExtraError("asgi", "httpx") from exc

__all__ = ["HOP_BY_HOP", "ReverseProxy", "Upstream", "upstream_client", "upstream_deliverer"]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class Upstream:
    """The upstream's scheme, host, port and path prefix, parsed once; `url` builds a request
    URL from them and a judged target, never by concatenating text."""

    def __init__(self, url: str) -> None:
        problem, parsed = None, None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problem = "is not an http(s) URL"
        else:
            try:
                parsed = httpx.URL(url)
            except (httpx.InvalidURL, ValueError):
                pass
            if parsed is None or not parsed.host:
                problem = "is not a valid URL"
            elif parsed.query or parsed.fragment or parsed.userinfo:
                problem = "has a query, a fragment or credentials"
        if problem is not None or parsed is None:
            raise InvalidInputError(
                f"upstream: {url!r} {problem}; expected e.g. http://127.0.0.1:8080 "
                "(a path prefix such as http://host/notify is allowed)"
            )
        self.scheme, self.host, self.port = parsed.scheme, parsed.host, parsed.port
        self.prefix = parsed.raw_path.rstrip(b"/")
        self.text = url.rstrip("/")

    def url(self, raw_path: bytes, query: bytes) -> httpx.URL:
        """The URL whose request target is exactly prefix + `raw_path` (+ ``?`` `query`);
        `InvalidInputError` when httpx would send other bytes (it resolves dot segments and
        percent-encodes what RFC 3986 does not allow)."""
        target = self.prefix + raw_path + (b"?" + query if query else b"")
        try:
            url = httpx.URL(scheme=self.scheme, host=self.host, port=self.port, raw_path=target)
        except (httpx.InvalidURL, ValueError):  # a '#', a non-ASCII byte
            url = None
        if url is None or url.raw_path != target:
            raise InvalidInputError(
                f"request target {target.decode('latin-1')!r}: the gateway forwards a target "
                "byte for byte and this one would not reach the upstream as sent (dot "
                "segments, '#', characters that must be percent-encoded)"
            )
        return url


def _strip(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    named = {
        token.strip().lower()
        for k, v in headers
        if k.lower() == b"connection"
        for token in v.split(b",")
    }
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]


class ReverseProxy:
    """ASGI app forwarding every HTTP request to `upstream` (websockets are refused)."""

    def __init__(self, upstream: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.upstream = Upstream(upstream)
        self._client = client
        self._owned = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = upstream_client()
        return self._client

    async def aclose(self) -> None:
        if self._owned and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.aclose)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        try:
            url = self.upstream.url(*forwarded_target(scope))
        except InvalidInputError as exc:
            await error_response(400, "invalid_request_target", str(exc))(scope, receive, send)
            return
        incoming = [(k.lower(), v) for k, v in scope.get("headers") or ()]
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in incoming)
        headers = [
            (k, v) for k, v in _strip(incoming) if k != b"host" and k not in METHOD_OVERRIDES
        ]
        headers += _forwarded(scope)
        # httpx.Request, not client.build_request: the client's default headers
        # (Accept-Encoding, User-Agent…) and its cookie jar are never added.
        request = httpx.Request(
            scope["method"],
            url,
            headers=headers,
            content=_body(receive) if has_body else b"",
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            await _gateway_error(504, exc)(scope, receive, send)
            return
        except httpx.HTTPError as exc:
            await _gateway_error(502, exc)(scope, receive, send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _strip(list(response.headers.raw)),
                }
            )
            if response.is_stream_consumed:  # a transport that read the body already
                await send(
                    {"type": "http.response.body", "body": response.content, "more_body": True}
                )
            else:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


def _forwarded(scope: Scope) -> list[tuple[bytes, bytes]]:
    out = [(b"x-forwarded-proto", str(scope.get("scheme", "http")).encode())]
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    for k, v in scope.get("headers") or ():
        if k.lower() == b"host":
            out.append((b"x-forwarded-host", v))
            break
    return out


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _gateway_error(status: int, exc: Exception) -> ASGIApp:
    code = "upstream_timeout" if status == 504 else "upstream_unavailable"
    return error_response(status, code, f"upstream: {type(exc).__name__}: {exc}")


def upstream_client() -> httpx.AsyncClient:
    """The client the gateway talks to the upstream with: no redirects followed, and a cookie
    jar that keeps nothing, so one caller's cookies never reach another's request."""
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False, cookies=jar)


async def _lifespan(receive: Receive, send: Send, close: Callable[[], Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def upstream_deliverer(client: httpx.AsyncClient, upstream: str, store: HoldStore) -> Deliverer:
    """A release-worker deliverer sending each held request again to `upstream`, with its
    `Idempotency-Key`. 2xx/3xx is done, 4xx (but 408/425/429) permanent, the rest retried."""
    base = Upstream(upstream)

    async def deliver(delivery: Delivery) -> None:
        async for held, parts in held_requests(store, delivery):
            target = parts.raw_path + (f"?{parts.query}" if parts.query else "")
            text = f"{parts.method} {base.text}{target} ({held.id})"
            try:
                url = base.url(parts.raw_path.encode("latin-1"), parts.query.encode("latin-1"))
            except (InvalidInputError, UnicodeEncodeError) as exc:
                raise PermanentDeliveryError(f"{text}: {exc}") from exc
            request = httpx.Request(parts.method, url, headers=parts.headers, content=parts.body)
            try:
                response = await client.send(request)
            except httpx.HTTPError as exc:
                raise DeliveryError(f"{text}: {type(exc).__name__}: {exc}") from exc
            status = response.status_code
            if status < 400:
                continue
            error = DeliveryError if retryable_status(status) else PermanentDeliveryError
            raise error(f"{text}: HTTP {status}")

    return deliver
