"""Real servers for the gateway tests: uvicorn in a thread on a free 127.0.0.1 port, an
upstream that records every request as received, and a raw-socket HTTP/1.1 client (an HTTP
client library would normalise the request lines these tests must send as they are)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from deconnexion.web.gateway import UVICORN_OPTIONS


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Served:
    """An ASGI app served by uvicorn in a thread; `gateway=True` uses the gateway's options."""

    def __init__(self, app: Any, *, gateway: bool = False) -> None:
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        options = dict(UVICORN_OPTIONS) if gateway else {}
        config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@dataclass(frozen=True)
class Received:
    method: str
    raw_path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k == name]


class Recorder:
    """A raw ASGI upstream recording every request; answers 201 to POST, else 200, with a
    Set-Cookie, and a hop-by-hop header named by Connection."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self.lock:
            self.requests.append(
                Received(
                    scope["method"],
                    scope["raw_path"],
                    scope["query_string"],
                    list(scope["headers"]),
                    body,
                )
            )
        headers = [
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"session=secret-of-the-previous-caller"),
            (b"connection", b"x-private"),
            (b"x-private", b"1"),
            (b"x-kept", b"yes"),
        ]
        status = 201 if scope["method"] == "POST" else 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"upstream"})

    def seen(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k == name]


def raw_http(
    port: int,
    request_line: bytes,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    """Send `request_line` as is, with `headers` and `body`, on a new connection."""
    head = [request_line, b"Host: gateway.test", b"Connection: close"]
    head += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
    if body or request_line.split(b" ", 1)[0].upper() in (b"POST", b"PUT"):
        head.append(b"Content-Length: %d" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    parsed = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        parsed.append((name.strip().lower(), value.strip()))
    return Answer(status, parsed, rest)
