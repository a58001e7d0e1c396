"""The answers, as models: the JSON `deconnexion check/release/windows --json` prints and the
decision service returns. The service passes each answer through its model and its OpenAPI
document is generated from them (deconnexion/web/decide_openapi.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from deconnexion.core.message import Audience, Kind, Provenance, ReasonCode

__all__ = [
    "CheckAnswer",
    "DecisionAnswer",
    "ErrorAnswer",
    "ErrorDetail",
    "ReasonAnswer",
    "WindowAnswer",
    "WindowsAnswer",
]

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReasonAnswer(Answer):
    code: ReasonCode
    label_fr: str
    label_en: str


class CheckAnswer(Answer):
    instant: Instant = Field(description="the instant asked, in the establishment's zone")
    quiet: bool
    next_open: Instant = Field(description="the instant itself when open")
    reasons: list[ReasonAnswer]
    timezone: str
    provenance: Provenance
    audience: Audience


class DecisionAnswer(Answer):
    held: bool
    release_at: Instant
    created_at: Instant
    audience: Audience
    kind: Kind
    reasons: list[ReasonAnswer]
    provenance: Provenance
    timezone: str
    explanation_fr: str
    students_release_at: Instant | None = Field(None, description="grades to parents")
    notes: list[str] | None = None
    open_until: Instant | None = Field(None, description="when the release's open window ends")
    expires_at: Instant | None = Field(None, description="the policy's expires_after, if any")


class WindowAnswer(Answer):
    start: Instant
    end: Instant
    reasons: list[ReasonAnswer]


class WindowsAnswer(Answer):
    date_from: Instant = Field(alias="from")
    date_to: Instant = Field(alias="to")
    timezone: str
    audience: Audience
    windows: list[WindowAnswer]


class ErrorDetail(Answer):
    code: str = Field(description="stable, e.g. invalid_choice, missing_field, unknown_zone")
    field: str | None = Field(description="the request field at fault, as the CLI flag")
    value: Any = Field(description="the value received (shown as text when not plain JSON)")
    accepted: str | None = Field(description="what would have been accepted")
    message: str


class ErrorAnswer(Answer):
    error: ErrorDetail
