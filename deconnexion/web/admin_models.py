"""The JSON bodies of the admin API and of a held request, as pydantic models.

The admin handlers build their answers through these models (`reply`), and
`deconnexion.web.admin_openapi` generates the OpenAPI document from them: what is described is
what is sent. `HeldAnswer` is the 202 body of a gated request held by the gate.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deconnexion.errors import MissingExtraError

try:
    from starlette.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - the dev environment has the extra
    raise MissingExtraError("asgi", "starlette") from exc

__all__ = [
    "MODELS",
    "AuditItem",
    "AuditList",
    "Changed",
    "Error",
    "Health",
    "Held",
    "HeldAnswer",
    "HeldList",
    "HeldRequestLine",
    "ReasonItem",
    "StatsBody",
    "WorkerHealth",
    "reply",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Error(_Body):
    """Every error: a stable code, the HTTP status, and a message naming what was wrong."""

    error: str = Field(description="stable code, e.g. not_found, forbidden, invalid_request")
    status: int
    message: str


class WorkerHealth(_Body):
    alive: bool = Field(description="a beat within stale_after_seconds, and not stopped")
    id: str | None
    last_beat_at: str | None = Field(description="ISO 8601, UTC")
    age_seconds: float | None
    stale_after_seconds: float
    error: str | None = Field(default=None, description="why the heartbeat file is unreadable")


class Health(_Body):
    status: str = Field(description="ok, or degraded when the worker reported is not alive")
    worker: WorkerHealth | None = Field(
        description="null: no worker in this process and no heartbeat file to read"
    )


class HeldRequestLine(_Body):
    method: str | None
    path: str | None


class Held(_Body):
    """A held message without its payload; instants are ISO 8601 in the establishment's zone."""

    id: str
    state: str = Field(description="held, claimed, released, cancelled, replaced or dead")
    kind: str
    audience: str
    urgent: bool
    actor: str | None
    sender_role: str | None
    recipients: list[str]
    reasons: list[str]
    created_at: str | None
    release_at: str | None
    released_at: str | None
    attempts: int
    last_error: str | None
    idempotency_key: str | None
    collapse_key: str | None
    request: HeldRequestLine
    payload_bytes: int
    content_type: str | None


class HeldList(_Body):
    establishment: str
    items: list[Held]
    count: int


class Changed(_Body):
    id: str
    state: str
    release_at: str | None = Field(default=None, description='"now" after a release')


class StatsBody(_Body):
    establishment: str
    held: int
    by_reason: dict[str, int]
    by_state: dict[str, int]
    oldest_held_created_at: str | None
    next_release_at: str | None


class AuditItem(_Body):
    at: str | None
    action: str
    message_id: str | None
    actor: str | None
    detail: dict[str, Any]


class AuditList(_Body):
    establishment: str
    items: list[AuditItem]


class ReasonItem(_Body):
    code: str
    label_fr: str
    label_en: str


class HeldAnswer(_Body):
    """The 202 answer of a gated request in a quiet window (header Deconnexion-Release-At)."""

    held: bool = Field(description="false only when the outcome is expired")
    id: str
    outcome: str = Field(
        description="held, duplicate (same idempotency key), replaced, or expired (stored, "
        "never delivered: its release would come after its expiry; no release header)"
    )
    release_at: str = Field(description="ISO 8601 with the establishment's offset")
    reasons: list[ReasonItem]
    explanation_fr: str
    idempotency_key: str
    replaced_id: str | None = Field(default=None, description="the message this one replaced")
    expires_at: str | None = Field(default=None, description="expired: the deadline it missed")


MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Health,
    WorkerHealth,
    Held,
    HeldRequestLine,
    HeldList,
    Changed,
    StatsBody,
    AuditItem,
    AuditList,
    HeldAnswer,
    ReasonItem,
)


def reply(model: type[BaseModel], body: dict[str, Any], status: int = 200) -> JSONResponse:
    """`body` checked against `model` (a drift is a bug here, not a surprise for callers)."""
    checked = model.model_validate(body).model_dump(mode="json", exclude_unset=True)
    return JSONResponse(checked, status_code=status)
