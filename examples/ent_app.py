"""A small ENT notification API, gated by deconnexion.

    uvicorn --factory examples.ent_app:create_app

Reading the timeline and typing grades stay open at any hour; publishing grades and sending
messages wait for the next open moment, unless the head of establishment sends an urgent,
justified message. Held requests are replayed into the API when their window opens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
    requires,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from deconnexion import (
    DeconnexionMiddleware,
    HoldQueue,
    ReleaseWorker,
    admin_app,
    open_store,
    replay_deliverer,
)


class User(SimpleUser):
    """The ENT's own user: the gate reads its `role` and `uai` (UAI of the establishment)."""

    def __init__(self, username: str, role: str, uai: str) -> None:
        super().__init__(username)
        self.role, self.uai = role, uai


# Demo accounts; a real ENT keeps its own authentication.
USERS = {
    "token-prof": User("m.martin", "teacher", "0750001A"),
    "token-chef": User("mme.durand", "chef_etablissement", "0750001A"),
}

# Which requests diffuse information, and where their message fields are read.
GATED = [
    {"path": "/api/grades/{id}/publish", "kind": "grade", "audience": "body:audience"},
    {
        "path": "/api/messages",
        "kind": "message",
        "audience": "body:audience",
        "recipients": "body:recipients",
    },
]


class TokenBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        user = USERS.get(conn.headers.get("authorization", "").removeprefix("Bearer "))
        return None if user is None else (AuthCredentials(["authenticated"]), user)


TIMELINE: list[dict[str, object]] = []  # what students and parents see


@requires("authenticated")
async def publish_grades(request: Request) -> JSONResponse:
    body = await request.json()
    TIMELINE.append(
        {
            "grades": request.path_params["id"],
            "for": body["audience"],
            "by": request.user.display_name,
        }
    )
    return JSONResponse({"published": True}, status_code=201)


@requires("authenticated")
async def send_message(request: Request) -> JSONResponse:
    body = await request.json()
    TIMELINE.append(
        {"message": body["text"], "for": body["audience"], "by": request.user.display_name}
    )
    return JSONResponse({"sent": True}, status_code=201)


@requires("authenticated")
async def save_grade(request: Request) -> JSONResponse:  # data entry: never gated
    return JSONResponse({"saved": request.path_params["id"]})


async def timeline(request: Request) -> JSONResponse:  # reading: never gated
    return JSONResponse(TIMELINE)


API_ROUTES = [  # the ENT's own API, unchanged
    Route("/api/grades/{id}/publish", publish_grades, methods=["POST"]),
    Route("/api/grades/{id}", save_grade, methods=["PUT"]),
    Route("/api/messages", send_message, methods=["POST"]),
    Route("/api/timeline", timeline),
]


# -- the deconnexion wiring (the README's middleware section) ---------------------------------


def create_app(
    store_url: str = "sqlite:///ent-held.db", clock: Callable[[], float] | None = None
) -> Starlette:
    # Without `clock`, deconnexion reads the time when it needs it (freezegun follows).
    timed = {} if clock is None else {"clock": clock}
    store = open_store(store_url)
    api = Starlette(routes=API_ROUTES)
    gated = DeconnexionMiddleware(api, queue=HoldQueue(store, **timed), routes=GATED, **timed)
    # At release the worker replays each held request into the API, past the gate.
    worker = ReleaseWorker(store, replay_deliverer(gated, store), **timed)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(worker.run())
        yield
        worker.stop()
        await task
        store.close()

    app = Starlette(
        routes=[
            Mount("/_deconnexion", admin_app(store, worker=worker, **timed)),
            Mount("/", gated),
        ],
        middleware=[Middleware(AuthenticationMiddleware, backend=TokenBackend())],
        lifespan=lifespan,
    )
    app.state.worker, app.state.store = worker, store
    return app
