"""Small pure-ASGI helpers shared by the middleware, the proxy and the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from types import FunctionType, MethodType
from typing import Any

from deconnexion.errors import MissingExtraError

try:
    import anyio
    import anyio.to_thread
except ImportError as exc:  # pragma: no cover - the asgi extra brings anyio
    raise MissingExtraError("asgi", "anyio") from exc

__all__ = [
    "ASGIApp",
    "BodyTooLarge",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "call_app",
    "direct_call",
    "in_thread",
    "read_body",
    "replay_receive",
    "route_path",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


def direct_call(app: ASGIApp) -> ASGIApp:
    """What calling `app` calls: for an instance of a class whose `__call__` is written in
    Python (a Starlette app, a middleware), that method bound to the instance, else `app`.

    Calling an instance goes through the type's `__call__` slot, which looks the method up and
    runs it in a new interpreter frame loop; a bound method is called like a function
    (measured with callgrind: 700 instructions a call fewer). The method is the one the class
    has now: a class whose `__call__` is replaced later is called as it was."""
    call = getattr(type(app), "__call__", None)  # noqa: B004 - the method is wanted, not a test
    return MethodType(call, app) if isinstance(call, FunctionType) else app


async def in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a worker thread (store calls are synchronous)."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


def route_path(scope: Scope) -> str:
    """The path below the app's root_path (what routing matches), as Starlette computes it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root:
        return path
    if path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; `BodyTooLarge` beyond `limit`, `ClientGone` on disconnect."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_receive(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then defers to the original (for disconnects)."""
    sent = False

    async def inner() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return inner


async def call_app(app: ASGIApp, scope: Scope, body: bytes) -> int:
    """Call `app` with one request of `body`; the status it answered (0: none)."""
    status = 0
    done = anyio.Event()

    async def disconnect() -> Message:  # once the answer is complete
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    try:
        await app(scope, replay_receive(body, disconnect), send)
    finally:
        done.set()
    return status
