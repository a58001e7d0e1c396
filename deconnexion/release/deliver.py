"""Deliverers: where a released message goes (a webhook, a JSON-lines file, nowhere).

A deliverer is an async callable taking a `Delivery`. It returns None when the recipient's
system accepted the message and raises otherwise: `PermanentDeliveryError` when retrying is
pointless (the worker dead-letters at once), any other exception to be retried with back-off.
Every delivery carries an idempotency key, the same on every retry and after a crash, so the
receiver can drop duplicates (delivery is at-least-once).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote

from deconnexion.core.timeutil import aware
from deconnexion.errors import (
    DeliveryError,
    InvalidInputError,
    MissingExtraError,
    PermanentDeliveryError,
    retryable_status,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BatchDeliverer",
    "DeliverMany",
    "Deliverer",
    "Delivery",
    "DeliveryError",  # defined in deconnexion.errors, kept importable from here
    "FileDeliverer",
    "NullDeliverer",
    "PermanentDeliveryError",
    "WebhookDeliverer",
    "parse_deliver_spec",
]

DELIVER_SPECS = "webhook:https://…, file:/path/out.jsonl, log:, null:"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One thing to deliver: a held message, or a digest of several for one recipient.

    `ids` are the held-message ids it covers (one, or every item of a digest); `kinds` their
    kinds in the same order. `attempt` counts from 1. `release_at` is in the establishment's
    time zone.
    """

    idempotency_key: str
    establishment: str
    recipients: tuple[str, ...]
    payload: bytes
    content_type: str
    release_at: datetime
    ids: tuple[str, ...]
    kinds: tuple[str, ...]
    attempt: int = 1
    digest: bool = False

    def __post_init__(self) -> None:
        tz = getattr(self.release_at, "tzinfo", None)
        if tz is None or tz.utcoffset(self.release_at) is None:
            aware(self.release_at, "Delivery.release_at")  # raises, naming the field
        if not isinstance(self.payload, bytes):
            raise InvalidInputError(
                f"Delivery.payload: expected bytes, got {type(self.payload).__name__}"
            )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (payload as text when it is UTF-8, else base64)."""
        try:
            body: Any = self.payload.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            body = base64.b64encode(self.payload).decode("ascii")
            encoding = "base64"
        return {
            "idempotency_key": self.idempotency_key,
            "establishment": self.establishment,
            "recipients": list(self.recipients),
            "release_at": self.release_at.isoformat(),
            "ids": list(self.ids),
            "kinds": list(self.kinds),
            "attempt": self.attempt,
            "digest": self.digest,
            "content_type": self.content_type,
            "payload_encoding": encoding,
            "payload": body,
        }


@runtime_checkable
class Deliverer(Protocol):
    """An async callable: return None when delivered, raise when not."""

    async def __call__(self, delivery: Delivery) -> None: ...


# what `BatchDeliverer.deliver_many` is: deliveries in, one outcome each out
DeliverMany = Callable[[Sequence[Delivery]], Awaitable[Sequence[BaseException | None]]]


@runtime_checkable
class BatchDeliverer(Deliverer, Protocol):
    """A deliverer that also takes many deliveries in one call.

    `deliver_many(deliveries)` returns one outcome per delivery, in order: None when
    delivered, the exception otherwise (a `PermanentDeliveryError` is dead-lettered at once,
    anything else retried); raising fails them all. The worker calls it with deliveries that
    may all start now (each checked as for `__call__`: never early, never expired, within the
    lease), at most one per recipient in a call; it runs them as it likes (`concurrency` is
    not applied). For deliverers that hand a batch over at once (a queue, a bus, a file): a
    claimed batch is one call instead of a coroutine per message."""

    async def deliver_many(
        self, deliveries: Sequence[Delivery]
    ) -> Sequence[BaseException | None]: ...


class NullDeliverer:
    """Accepts everything and does nothing (benchmarks, dry runs); a `BatchDeliverer`."""

    async def __call__(self, delivery: Delivery) -> None:
        return None

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        return [None] * len(deliveries)

    def __repr__(self) -> str:
        return "NullDeliverer()"


class FileDeliverer:
    """Appends one JSON line per delivery to a stream or a file (`log:` is stdout).

    Each line is written with one `write` on a file opened in append mode and flushed before
    returning, so a worker killed right after keeps the line (the kernel has it).
    """

    def __init__(self, target: str | IO[str] | None = None) -> None:
        self._path = target if isinstance(target, str) else None
        self._stream: IO[str] | None = None if isinstance(target, str) else target
        self._owned = False

    def _out(self) -> IO[str]:
        if self._stream is None:
            if self._path is None:
                self._stream = sys.stdout
            else:
                self._stream = open(self._path, "a", encoding="utf-8")
                self._owned = True
        return self._stream

    async def __call__(self, delivery: Delivery) -> None:
        out = self._out()
        out.write(json.dumps(delivery.to_json(), ensure_ascii=False) + "\n")
        out.flush()

    async def aclose(self) -> None:
        if self._owned and self._stream is not None:
            self._stream.close()
            self._stream = None
            self._owned = False

    def __repr__(self) -> str:
        return f"FileDeliverer({self._path or 'stdout'!r})"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: let the worker's back-off decide


class WebhookDeliverer:
    """POSTs the payload to `url` with `Idempotency-Key` and `Deconnexion-*` headers.

    2xx is success; 4xx other than 408/425/429 is permanent; anything else (5xx, 408, 429,
    a timeout, a refused connection) is retried. Needs httpx (`deconnexion[asgi]`).
    """

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"webhook url: {url!r} is not an http(s) URL; expected e.g. "
                "https://ent.example.fr/hooks/deconnexion"
            )
        if timeout <= 0:
            raise InvalidInputError(f"webhook timeout: {timeout!r}; expected seconds > 0")
        if client is None and importlib.util.find_spec("httpx") is None:
            raise MissingExtraError("asgi", "httpx")  # now, not at the first delivery
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._client = client
        self._owned = client is None

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    def request_headers(self, delivery: Delivery) -> dict[str, str]:
        headers = dict(self.headers)
        headers.update(
            {
                "Content-Type": delivery.content_type,
                "Idempotency-Key": delivery.idempotency_key,
                "Deconnexion-Establishment": delivery.establishment,
                "Deconnexion-Recipients": ",".join(quote(r, safe="") for r in delivery.recipients),
                "Deconnexion-Release-At": delivery.release_at.isoformat(),
                "Deconnexion-Attempt": str(delivery.attempt),
            }
        )
        if delivery.digest:
            headers["Deconnexion-Digest"] = str(len(delivery.ids))
        return headers

    async def __call__(self, delivery: Delivery) -> None:
        client = self._get_client()
        import httpx

        try:
            response = await client.post(
                self.url, content=delivery.payload, headers=self.request_headers(delivery)
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"POST {self.url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return None
        text = f"POST {self.url}: HTTP {status} {response.reason_phrase}".rstrip()
        if retryable_status(status):
            raise DeliveryError(text, _retry_after(response.headers.get("Retry-After")))
        raise PermanentDeliveryError(text)

    async def aclose(self) -> None:
        if self._owned and self._client is not None:
            await self._client.aclose()
            self._client = None

    def __repr__(self) -> str:
        return f"WebhookDeliverer({self.url!r})"


def parse_deliver_spec(
    spec: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None
) -> Deliverer:
    """Build a deliverer from `webhook:URL`, `file:PATH`, `log:` or `null:`."""
    scheme, sep, rest = spec.partition(":")
    if not sep:
        raise InvalidInputError(
            f"--deliver: {spec!r} has no scheme; expected one of {DELIVER_SPECS}"
        )
    if scheme == "webhook":
        return WebhookDeliverer(rest, timeout=timeout, headers=headers)
    if scheme == "file":
        if not rest:
            raise InvalidInputError(f"--deliver: {spec!r} names no file; expected file:/path")
        return FileDeliverer(rest)
    if scheme == "log":
        return FileDeliverer(None)
    if scheme == "null":
        return NullDeliverer()
    raise InvalidInputError(
        f"--deliver: unknown scheme {scheme!r} in {spec!r}; expected one of {DELIVER_SPECS}"
    )
