"""The HTTP gateway: deconnexion in front of a notification service written in any language.

Run by `deconnexion gateway` (`deconnexion.cli.gateway` parses its options and environment).
One ASGI app served by uvicorn: the gate (`DeconnexionMiddleware`) in front of a streaming
reverse proxy to `--upstream`, the admin API under ``/_deconnexion``, and a release worker
(started with the app) that sends held requests to the upstream when their window opens.
The sender is read from a `Deconnexion-Sender` header signed with the secret in
``$DECONNEXION_SECRET`` (`deconnexion.web.signing`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any

from deconnexion.core.policy import Policy
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import wall_clock
from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.release.follow import SchedulerLookup
from deconnexion.release.heartbeat import HeartbeatFile
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import open_store
from deconnexion.store.base import HoldStore
from deconnexion.web._http import Message, Receive, Scope, Send, route_path
from deconnexion.web.admin import admin_app
from deconnexion.web.identity import IdentityResolver
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.proxy import ReverseProxy, upstream_client, upstream_deliverer
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver
from deconnexion.web.tenant import EstablishmentResolver, from_sender

__all__ = ["ADMIN_PREFIX", "UVICORN_OPTIONS", "Gateway", "serve"]

ADMIN_PREFIX = "/_deconnexion"
# uvicorn adds its own Date and Server to every response, doubling the upstream's: the
# gateway passes the upstream's on and adds a Date only where there is none (`_dated`).
UVICORN_OPTIONS: Mapping[str, Any] = {"server_header": False, "date_header": False}
log = logging.getLogger("deconnexion.gateway")


class Gateway:
    """The gateway ASGI app (admin, gate + proxy, worker in the lifespan)."""

    def __init__(
        self,
        *,
        upstream: str,
        store: HoldStore,
        config: RouteRules,
        policy: Policy | None = None,
        identity: IdentityResolver,
        establishment: EstablishmentResolver | None = None,
        clock: Callable[[], float] = wall_clock,
        run_worker: bool = True,
        worker_options: Mapping[str, Any] | None = None,
        heartbeat_file: str | None = None,
        metrics_token: str | None = None,
    ) -> None:
        default = Establishment(uai=config.default_uai) if config.default_uai else None
        where = establishment or from_sender(default)
        self.client = upstream_client()
        self.proxy = ReverseProxy(upstream, client=self.client)
        self.queue = HoldQueue(store, clock)
        self.gate = DeconnexionMiddleware(
            self.proxy,
            queue=self.queue,
            routes=config.compile(),
            policy=policy,
            identity=identity,
            establishment=where,
            max_body=config.max_body,
            header_allowlist=config.header_allowlist,
            clock=clock,
        )
        deliver = upstream_deliverer(self.client, upstream, store)
        # the worker releases under the gate's policy (a parents' grade waits its delay)
        options = {
            "heartbeat_file": heartbeat_file,
            "schedulers": SchedulerLookup(policy),
            **dict(worker_options or {}),
        }
        self.worker = ReleaseWorker(store, deliver, clock=clock, **options) if run_worker else None
        # Without its own worker, /health reads the heartbeat of the one that releases.
        beats = HeartbeatFile(heartbeat_file) if heartbeat_file and not run_worker else None
        self.admin = admin_app(
            store,
            identity=identity,
            establishment=where,
            worker=self.worker,
            clock=clock,
            heartbeat=beats,
            gated=[(m, rule.path) for rule in config.routes for m in rule.methods],
            metrics_token=metrics_token,
        )
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http":
            send = _dated(send)
        path = route_path(scope) if scope["type"] in ("http", "websocket") else ""
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            scope = dict(scope)
            scope["root_path"] = scope.get("root_path", "") + ADMIN_PREFIX
            await self.admin(scope, receive, send)
            return
        await self.gate(scope, receive, send)

    async def startup(self) -> None:
        if self.worker is not None and self._task is None:
            self._task = asyncio.create_task(self.worker.run(), name="deconnexion-worker")

    async def shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None and self.worker is not None:
            self.worker.stop()
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:  # wait_for cancelled it; leases expire, nothing is lost
                log.warning("release worker did not stop within 10 s")
        await self.client.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _dated(send: Send) -> Send:
    """`send` adding a ``Date`` to responses without one (the gateway's own answers, an
    upstream that sent none: RFC 9110 §6.6.1); an upstream's ``Date`` is passed on alone."""

    async def inner(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or ())
            if all(k.lower() != b"date" for k, _ in headers):
                headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
                message = {**message, "headers": headers}
        await send(message)

    return inner


def serve(args: argparse.Namespace) -> int:
    """Serve the gateway described by parsed `deconnexion gateway` arguments until interrupted."""
    import uvicorn

    secret = os.environ.get(args.secret_env)
    if not secret:
        raise InvalidInputError(
            f"--secret-env: ${args.secret_env} is not set; the gateway needs the shared secret "
            "that signs Deconnexion-Sender headers (at least 16 bytes)"
        )
    config = RouteRules.from_file(args.routes)
    policy = Policy.from_file(args.policy) if args.policy else Policy.national()
    store = open_store(args.store)
    try:
        app = Gateway(
            upstream=args.upstream,
            store=store,
            config=config,
            policy=policy,
            identity=SignedHeaderResolver(secret),
            run_worker=not args.no_worker,
            heartbeat_file=args.heartbeat_file,
            metrics_token=os.environ.get(args.metrics_token_env) or None,
        )
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            lifespan="on",
            **UVICORN_OPTIONS,
        )
    finally:
        store.close()
    return 0
