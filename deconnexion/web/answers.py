"""How the gate's verdicts are answered: Starlette responses, one error body for every error.

The gate (`deconnexion.web.gate`) decides and returns a verdict; the middleware turns a held
or refused verdict into the response built here and calls it as an ASGI app (starlette's
``trustedhost.py`` shape). Every error the gate, the middleware, the gateway and the admin API
answer has the body of `error_body`: ``{"error": code, "status": status, "message": …}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.message import Decision
from deconnexion.errors import MissingExtraError

try:
    from starlette.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - the asgi extra brings starlette
    raise MissingExtraError("asgi", "starlette") from exc

__all__ = ["Held", "Passed", "Refused", "Verdict", "answer", "error_body", "error_response"]


@dataclass(frozen=True, slots=True)
class Passed:
    """The request goes on to the application (with its body, if the gate read it)."""


@dataclass(frozen=True, slots=True)
class Held:
    """The request is stored in the hold queue until `release_at`; answered 202."""

    id: str
    outcome: str
    release_at: datetime
    decision: Decision
    idempotency_key: str
    replaced_id: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Neither passed nor stored: `status` with an error `code` and a `message` saying what was
    wrong, the value received and what is accepted."""

    status: int
    code: str
    message: str


Verdict = Passed | Held | Refused


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": code, "status": status, "message": message}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, code, message), status_code=status)


def answer(verdict: Held | Refused) -> JSONResponse:
    """The response to a verdict that does not pass."""
    if isinstance(verdict, Refused):
        return error_response(verdict.status, verdict.code, verdict.message)
    release = verdict.release_at.isoformat()
    # An expired message is stored (audited, counted) but will never be delivered: not "held",
    # and no release header; `release_at` says when it would have gone out.
    expired = verdict.outcome == "expired"
    body = {
        "held": not expired,
        "id": verdict.id,
        "outcome": verdict.outcome,
        "release_at": release,
        "reasons": [r.to_dict() for r in verdict.decision.reasons],
        "explanation_fr": _explanation(verdict.decision),
        "idempotency_key": verdict.idempotency_key,
    }
    if verdict.replaced_id:
        body["replaced_id"] = verdict.replaced_id
    if expired:
        if verdict.decision.expires_at is not None:
            body["expires_at"] = verdict.decision.expires_at.isoformat()
        return JSONResponse(body, status_code=202)
    return JSONResponse(body, status_code=202, headers={"Deconnexion-Release-At": release})


_EXPLAINED: Table[tuple[Any, ...], str] = CACHES.table("French sentences")


def _explanation(decision: Decision) -> str:
    """`decision.explanation_fr()`, remembered: requests held in one quiet window share it, and
    formatting a French date costs more than the rest of the answer."""
    key = (
        decision.held,
        decision.release_at,
        decision.created_at.year,  # the sentence shows the year when it changes
        decision.audience,
        decision.reasons,
    )
    found = _EXPLAINED.get(key)
    if found is None:
        found = _EXPLAINED.put(key, decision.explanation_fr())
    return found
