"""`DeconnexionMiddleware`: pure ASGI gate in front of an application's diffusion routes.

Everything that is not a gated route (reads, data entry, websockets, lifespan) goes straight to
the application with the same `receive` and `send`: no buffering, streaming kept. A gated
request whose body cannot change the answer (open window for every audience the route may
name, no urgency asked) also goes straight through, body unread. Otherwise the body is read (up
to `max_body`, 413 beyond), its message decided; in an open window the request goes on with its
body replayed, in a quiet window it is held and answered 202 with when it will go out. The
release worker replays it later (`deconnexion.web.replay.replay_deliverer`).

The request line is judged in its canonical form (`deconnexion.web.request_line`): a request of
a gated method whose target an application could read as another path (``/api/./messages``,
``/api/x/../messages``, ``//api``, ``%2F``, ``#``, ``;``…) is refused with 400, as is a
lower-case ``post`` where ``POST`` is gated; route rules match case-insensitively, with or
without one trailing slash. Method-override headers (``X-HTTP-Method-Override``,
``X-HTTP-Method``, ``X-Method-Override``) are removed before the application sees the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.policy import Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import wall_clock
from deconnexion.errors import DeconnexionError, InvalidInputError
from deconnexion.hold.queue import HoldQueue
from deconnexion.web._http import (
    ASGIApp,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    direct_call,
    read_body,
    replay_receive,
)
from deconnexion.web.answers import Passed, answer, error_response
from deconnexion.web.exact_passes import (
    EXACT_PASSES,
    NAME,
    exact_pass,
    key_names,
    length_digits,
    urgency_headers,
)
from deconnexion.web.gate import PASS_UNREAD, TOO_LARGE, Gate
from deconnexion.web.identity import IdentityResolver, ScopeIdentity, Sender
from deconnexion.web.replay import REPLAY_KEY, Replay, restore_sender
from deconnexion.web.request_line import (
    METHOD_OVERRIDES,
    REQUEST_LINE_KEY,
    judged_line,
    without_overrides,
)
from deconnexion.web.routes import (
    DEFAULT_HEADER_ALLOWLIST,
    DEFAULT_MAX_BODY,
    RouteMatch,
    RouteRule,
    Routes,
)
from deconnexion.web.signing import SignedHeaderResolver
from deconnexion.web.tenant import EstablishmentResolver, Fixed, from_sender

__all__ = ["DEFAULT_HEADER_ALLOWLIST", "DEFAULT_MAX_BODY", "DeconnexionMiddleware", "schedulers"]

# Methods known to be upper case, so a read skips the `str.upper()` of the case check.
_UPPER = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE"})


_SCHEDULERS: Table[tuple[str, str], Scheduler] = CACHES.table("schedulers")


def schedulers(policy: Policy) -> Callable[[Establishment], Scheduler]:
    """One `Scheduler` per establishment under `policy`, built on first use and kept (in the
    process's "schedulers" cache, deconnexion.core.caches)."""
    # keyed by the policy's digest, read once: hashing the Policy itself on every request is a
    # Python-level __hash__ call (measured: 334 ns → 1,464 ns per lookup)
    fingerprint = policy.fingerprint

    def scheduler_for(establishment: Establishment) -> Scheduler:
        key = (fingerprint, establishment.key)
        found = _SCHEDULERS.get(key)
        if found is None or (
            found.establishment is not establishment and found.establishment != establishment
        ):
            found = _SCHEDULERS.put(key, Scheduler(policy, establishment))
        return found

    return scheduler_for


class DeconnexionMiddleware:
    """Gate the diffusion routes of `app`; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        queue: HoldQueue,
        routes: Routes | Iterable[RouteRule | Mapping[str, Any]],
        policy: Policy | None = None,
        scheduler_for: Callable[[Establishment], Scheduler] | None = None,
        identity: IdentityResolver | None = None,
        establishment: EstablishmentResolver | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        header_allowlist: Sequence[str] = DEFAULT_HEADER_ALLOWLIST,
        clock: Callable[[], float] = wall_clock,
        restore_identity: Callable[[Scope, Sender], None] = restore_sender,
    ) -> None:
        if policy is not None and scheduler_for is not None:
            raise InvalidInputError("give either policy or scheduler_for, not both")
        if not isinstance(max_body, int) or max_body < 0:
            raise InvalidInputError(f"max_body: {max_body!r}; expected a number of bytes >= 0")
        self.app = app
        self.routes = routes if isinstance(routes, Routes) else Routes(routes)
        self.max_body = max_body
        self.restore_identity = restore_identity
        self._methods = self.routes.methods
        self._clock = clock
        # this gate's own: keys of EXACT_PASSES start with it, so no other gate shares them
        self._token = object()
        self._urgency = urgency_headers(self.routes.rules)
        self._length_digits = length_digits(max_body)
        identity = identity or ScopeIdentity()
        establishment = establishment or from_sender()
        # a fixed establishment, known without asking when the identity resolver is one that
        # never raises (the built-in ones): the sender changes nothing then
        self._fixed = (
            establishment.establishment
            if isinstance(establishment, Fixed)
            and isinstance(identity, ScopeIdentity | SignedHeaderResolver)
            else None
        )
        self.gate = Gate(
            queue=queue,
            scheduler_for=scheduler_for or schedulers(policy or Policy.national()),
            identity=identity,
            establishment=establishment,
            header_allowlist=header_allowlist,
            clock=clock,
            schedulers_alike=scheduler_for is None,
        )

    @property
    def app(self) -> ASGIApp:
        """The application behind the gate (may be replaced)."""
        return self._app

    @app.setter
    def app(self, app: ASGIApp) -> None:
        self._app = app
        self._call_app = direct_call(app)  # what `app(...)` calls, bound once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._call_app(scope, receive, send)
            return
        # `in` first: one C-level test on a request without the marker, no method call
        if REPLAY_KEY in scope and (replay := scope[REPLAY_KEY]) is not None:
            await self._replayed(scope, receive, send, replay)
            return
        raw_headers = scope.get("headers") or ()
        key = None  # the request's key in EXACT_PASSES, when it may have one
        if scope["method"] in self._methods:
            # The exact-bytes fast path (deconnexion.web.exact_passes), inlined: every Python
            # call costs about 800 instructions here. The key is `exact_key`'s, its line values
            # read by subscripts (callgrind: 600 instructions fewer than REQUEST_LINE's tuple).
            try:
                key = (
                    self._token,
                    scope["method"],
                    scope["raw_path"],
                    scope["path"],
                    scope["root_path"],
                    scope["query_string"],
                    *map(NAME, raw_headers),
                )
                found = EXACT_PASSES.get(key)
            except (KeyError, TypeError):  # a value left out or unhashable: the full path
                key = found = None
            if found is not None:
                # Callables kept on the instance are read as attributes, then called:
                # `self._clock()` compiles to a method lookup that Python 3.11 does not
                # specialise for them (callgrind: 110 instructions a call fewer).
                clock = self._clock
                try:
                    passed = (
                        found.establishment is self._fixed
                        or self._establishment_of(scope) is found.establishment
                    ) and found.start <= clock() < found.end
                except DeconnexionError:
                    passed = False
                at = found.length_at
                if passed and (
                    at < 0  # no declared length, or one not over max_body (as Gate.triage)
                    or len(length := raw_headers[at][1]) < self._length_digits
                    or not length.isdigit()
                    or int(length) <= self.max_body
                ):
                    scope[REQUEST_LINE_KEY] = found.line  # as the full path leaves it
                    call_app = self._call_app  # an attribute read, as `clock` above
                    await call_app(scope, receive, send)
                    return
        # One dict built in C (ASGI servers give lower-case names) answers the override
        # question here and the header questions of `Gate.triage`.
        named = dict(raw_headers)
        if not METHOD_OVERRIDES.isdisjoint(named):  # the method judged is the method acted on
            scope = dict(scope)
            scope["headers"] = headers = without_overrides(raw_headers) or []
            named = dict(headers)
        method = scope["method"]
        if method not in self._methods:
            if method not in _UPPER and method.upper() in self._methods:  # `post` is not POST
                message = f"method {method!r}: methods are case-sensitive, upper case"
                await error_response(400, "invalid_request_target", message)(scope, receive, send)
                return
            call_app = self._call_app  # an attribute read, as `clock` above
            await call_app(scope, receive, send)
            return
        try:
            line = judged_line(scope)
        except InvalidInputError as exc:
            await error_response(400, "invalid_request_target", str(exc))(scope, receive, send)
            return
        match = self.routes.match(method, line.path)
        if match is None:
            await self._call_app(scope, receive, send)
            return
        triage = self.gate.triage(scope, match, self.max_body, named)
        if triage == PASS_UNREAD:  # open whatever the body says: it streams to the app unread
            if key is not None:
                self._remember(key, scope, match, line)
            await self._call_app(scope, receive, send)
        elif triage == TOO_LARGE:
            await self._too_large(scope, receive, send)
        else:
            await self._gated(scope, receive, send, match)

    def _establishment_of(self, scope: Scope) -> Establishment | None:
        gate = self.gate
        return gate.establishment(scope, gate.identity(scope))

    def _remember(self, key: tuple[Any, ...], scope: Scope, match: RouteMatch, line: Any) -> None:
        opened = self.gate.open_pass(scope, match)
        if opened is not None:
            span = (opened.start, opened.end)
            found = exact_pass(key_names(key), self._urgency, line, opened.establishment, span)
            if found is not None:
                EXACT_PASSES.put(key, found)

    async def _replayed(self, scope: Scope, receive: Receive, send: Send, replay: Any) -> None:
        # Only the in-process replay deliverer can put a `Replay` in the scope: servers copy no
        # client data into scope keys, so no external request reaches this bypass.
        if not isinstance(replay, Replay):
            message = "a replay marker that is not a deconnexion.web.replay.Replay"
            await error_response(400, "invalid_replay", message)(scope, receive, send)
            return
        scope = dict(scope)
        self.restore_identity(scope, replay.sender)
        await self._call_app(scope, receive, send)

    async def _gated(self, scope: Scope, receive: Receive, send: Send, match: RouteMatch) -> None:
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            await self._too_large(scope, receive, send)
            return
        except ClientGone:
            return
        verdict = await self.gate.judge(scope, match, body)
        if isinstance(verdict, Passed):
            await self._call_app(scope, replay_receive(body, receive), send)
        else:
            await answer(verdict)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body exceeds {self.max_body} bytes, the limit for diffusion routes"
        await error_response(413, "body_too_large", message)(scope, receive, send)
