"""Credentials and signed sender headers are never stored (held row, audit trail) nor replayed,
end to end through real uvicorn: the gateway in front of a recording upstream on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_gateway_e2e import QUIET, RELEASE, ROOT, SECRET, Clock, Served, _wait_for

from deconnexion.errors import InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.store import MemoryStore, open_store
from deconnexion.web.gateway import Gateway
from deconnexion.web.middleware import DeconnexionMiddleware
from deconnexion.web.routes import RouteRules
from deconnexion.web.signing import SignedHeaderResolver, sign_sender

pytestmark = pytest.mark.slow

PASSWORD = "Basic bS5tYXJ0aW46c2VjcmV0"
SESSION = "session=s3cr3t-session"
CREDENTIALS = ("authorization", "cookie", "proxy-authorization", "deconnexion-sender")


class Recorder:
    """The upstream: every request's headers, as received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()

        async def record(request: Request) -> Response:
            await request.body()
            with self.lock:
                self.seen.append(dict(request.headers))
            return JSONResponse({"ok": True}, status_code=201)

        self.app = Starlette(routes=[Route("/api/notifications", record, methods=["POST"])])

    def all(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.seen)


def test_signed_sender_and_credentials_are_neither_stored_nor_replayed(tmp_path: Path) -> None:
    recorder = Recorder()
    clock = Clock(QUIET)
    store = open_store(f"sqlite:///{tmp_path / 'held.db'}")
    signed_prof = sign_sender(SECRET, "m.martin", "teacher", "0750001A", QUIET + 3600)
    signed_chef = sign_sender(SECRET, "mme.durand", "chef_etablissement", "0750001A", QUIET + 3600)
    secrets = (signed_prof, signed_chef, PASSWORD, SESSION, "s3cr3t")
    try:
        with Served(recorder.app) as up:
            gateway = Gateway(
                upstream=up.url,
                store=store,
                config=RouteRules.from_file(ROOT / "examples" / "routes.toml"),
                identity=SignedHeaderResolver(SECRET, clock=clock),
                clock=clock,
                worker_options={"poll_interval": 0.1},
            )
            with Served(gateway) as gw, httpx.Client(base_url=gw.url, timeout=10) as c:
                credentials = {
                    "Authorization": PASSWORD,
                    "Cookie": SESSION,
                    "Proxy-Authorization": PASSWORD,
                    "X-Request-Id": "r-1",
                }
                held = c.post(
                    "/api/notifications",
                    json={"kind": "message", "audience": "parents", "text": "Sortie"},
                    headers={
                        "Deconnexion-Sender": signed_prof,
                        **credentials,
                        "Idempotency-Key": "k-1",
                    },
                )
                assert held.status_code == 202, held.text
                urgent = c.post(
                    "/api/notifications",
                    json={"kind": "message", "audience": "parents", "text": "Collège fermé"},
                    headers={
                        "Deconnexion-Sender": signed_chef,
                        **credentials,
                        "Deconnexion-Urgent": "1",
                        "Deconnexion-Justification": "alerte neige",
                    },
                )
                assert urgent.status_code == 201, urgent.text

                [row] = store.list("0750001A", ["held"])
                stored = json.dumps([row.meta, row.decision, row.actor, row.idempotency_key])
                audit = json.dumps([e.detail for e in store.audit("0750001A")])
                for secret in secrets:
                    assert secret not in stored and secret not in audit
                names = {k for k, _ in row.meta["http"]["headers"]}
                assert names == {"content-type", "x-request-id", "accept"} & names
                assert row.meta["sender"]["id"] == "m.martin"  # the verified sender is kept

                before = len(recorder.all())
                clock.now = RELEASE + 1
                _wait_for(lambda: len(recorder.all()) == before + 1)
                replayed = recorder.all()[-1]
                assert replayed["idempotency-key"] == "k-1"
                assert replayed["x-request-id"] == "r-1"
                for name in CREDENTIALS:
                    assert name not in replayed
                assert not any(s in json.dumps(replayed) for s in secrets)
    finally:
        store.close()


@pytest.mark.parametrize(
    "name", ["Deconnexion-Sender", "authorization", "Cookie", "Proxy-Authorization"]
)
def test_a_routes_file_allow_listing_a_credential_is_refused_at_load(
    tmp_path: Path, name: str
) -> None:
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f'header_allowlist = ["x-request-id", "{name}"]\n\n'
        '[[routes]]\npath = "/api/notifications"\naudience = "parents"\nkind = "message"\n'
    )
    with pytest.raises(InvalidInputError) as exc:
        RouteRules.from_file(routes)
    message = str(exc.value)
    assert f"header_allowlist: {name!r} carries credentials" in message
    assert "never stored nor replayed" in message


def test_the_signed_resolvers_own_header_is_refused_in_a_middleware_allow_list() -> None:
    resolver = SignedHeaderResolver(SECRET, header="X-ENT-Identity")
    with pytest.raises(InvalidInputError, match="'X-ENT-Identity' carries credentials"):
        DeconnexionMiddleware(
            Starlette(),
            queue=HoldQueue(MemoryStore()),
            routes=[{"path": "/api/notifications", "audience": "parents", "kind": "message"}],
            identity=resolver,
            header_allowlist=["x-request-id", "X-ENT-Identity"],
        )


def test_a_row_held_before_with_a_credential_header_does_not_replay_it() -> None:
    from deconnexion.web.replay import replay_parts

    old = SimpleNamespace(
        id="m1",
        idempotency_key="k",
        payload=b"{}",
        meta={
            "http": {
                "method": "POST",
                "path": "/api/notifications",
                "headers": [["Deconnexion-Sender", "x;teacher;;1;sig"], ["Cookie", SESSION]],
            }
        },
    )
    names = {k.lower() for k, _ in replay_parts(old).headers}  # type: ignore[arg-type]
    assert not names & {"deconnexion-sender", "cookie"}
