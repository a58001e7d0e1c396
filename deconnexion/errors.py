"""Every error deconnexion raises.

    DeconnexionError
    ├── InvalidInputError (also ValueError): the caller gave something wrong
    │   ├── NaiveDatetimeError        a datetime without a time zone
    │   ├── UnknownTerritoryError     zone, académie, département or UAI not recognised
    │   ├── PolicyError               a policy file or value that is invalid or looser than the law
    │   ├── CalendarFileError         a calendar CSV that is not the official dataset's format
    │   ├── OutOfRangeError           an instant outside the compiled calendar range
    │   └── PayloadError              a message payload that cannot be stored or delivered
    ├── CalendarUnknownError          strict mode: the calendar for that period is not official
    ├── StoreError                    the hold store cannot be opened or used
    │   ├── NotADatabaseError (also ValueError)
    │   ├── PolicyNotRecordedError    a held message has no recorded policy: reschedule won't guess
    │   └── StoreRefusedError (also InvalidInputError): the store refused one request's data
    ├── DeliveryError                 a delivery failed; the worker retries it with back-off
    │   └── PermanentDeliveryError    the receiver refused it for good: dead-lettered at once
    └── MissingExtraError (also ImportError): an optional dependency is not installed

Messages always say what was wrong, the value received, and what is accepted. Each class has a
stable `code`; a bad-input error may also carry `field`, `value` and `accepted` for programs
(`to_dict()`: the `{"error": {...}}` object the CLI's `--json` and the decision service print).
`retryable_status` is the one rule for which HTTP answers a delivery is retried after.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CalendarFileError",
    "CalendarUnknownError",
    "DeconnexionError",
    "DeliveryError",
    "InvalidInputError",
    "MissingExtraError",
    "NaiveDatetimeError",
    "NotADatabaseError",
    "OutOfRangeError",
    "PayloadError",
    "PermanentDeliveryError",
    "PolicyError",
    "PolicyNotRecordedError",
    "StoreError",
    "StoreRefusedError",
    "UnknownTerritoryError",
    "retryable_status",
]


class DeconnexionError(Exception):
    """Base class of every deconnexion error."""

    code = "error"
    field: str | None = None
    value: object = None
    accepted: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """`{"error": {"code", "field", "value", "accepted", "message"}}`, JSON-ready: the value
        is kept when JSON can carry it safely, else shown as text (see `shown`)."""
        value = self.value
        if not (
            value is None
            or isinstance(value, bool)
            or (isinstance(value, int) and abs(value) < 2**53)
            or (isinstance(value, float) and value == value and abs(value) != float("inf"))
            or (isinstance(value, str) and _printable(value) == value and len(value) <= 200)
        ):
            value = shown(value)
        return {
            "error": {
                "code": self.code,
                "field": self.field,
                "value": value,
                "accepted": self.accepted,
                "message": _printable(str(self)),
            }
        }


def shown(value: object, limit: int = 120) -> str:
    """A short, printable, UTF-8-safe text for any value a caller sent (a lone surrogate, an
    integer of 10,000 digits or a nested list included)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = _printable(repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class InvalidInputError(DeconnexionError, ValueError):
    """The caller gave a value that is not accepted."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        accepted: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field, self.value, self.accepted = field, value, accepted
        if code is not None:
            self.code = code


class NaiveDatetimeError(InvalidInputError):
    """A datetime without time zone was given where an instant is needed."""

    code = "naive_datetime"


class UnknownTerritoryError(InvalidInputError):
    """A zone, académie, département, territory or UAI that is not recognised."""

    code = "unknown_territory"


class PolicyError(InvalidInputError):
    """A policy that is invalid, or looser than the national rule without a declared deviation."""

    code = "invalid_policy"


class CalendarFileError(InvalidInputError):
    """A calendar file that does not follow the official dataset's format."""

    code = "invalid_calendar_file"


class OutOfRangeError(InvalidInputError):
    """An instant outside the range of dates the calendar was compiled for."""

    code = "out_of_range"


class PayloadError(InvalidInputError):
    """A payload that cannot be held or delivered (not bytes/JSON, too large, corrupt)."""

    code = "invalid_payload"


class CalendarUnknownError(DeconnexionError):
    """Strict mode: no official calendar is known for the period a decision needs."""

    code = "calendar_unknown"


class StoreError(DeconnexionError):
    """The hold store cannot be opened or used."""

    code = "store_unusable"


class NotADatabaseError(StoreError, ValueError):
    """The store URL points at a file that is not a deconnexion database."""

    code = "not_a_database"


class PolicyNotRecordedError(StoreError):
    """A held message carries no recorded policy (held before stores recorded one): rescheduling
    it needs a policy named explicitly, never a guess."""


class StoreRefusedError(StoreError, InvalidInputError):
    """The store is up but refused the data of a write (a text it cannot encode, a value out
    of its range): the request's fault, not an outage. A batch that fails with it is retried
    request by request, so only the guilty request fails. `results`: when raised by
    `HoldQueue.hold_many`, each request's outcome (a `HoldResult` or its error)."""

    results: tuple[object, ...] = ()


class DeliveryError(DeconnexionError):
    """A delivery failed and may succeed later; `retry_after` (seconds) when the receiver said."""

    code = "delivery_failed"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A delivery the receiver refused for good (e.g. HTTP 400, 404, 410): do not retry."""

    code = "delivery_refused"


# 4xx answers that say "not now" rather than "never": timeout, too early, too many requests
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


def retryable_status(status: int) -> bool:
    """Whether a delivery that got this HTTP status (not a success) is worth retrying: yes for
    5xx, 408, 425, 429 and no answer at all (0); no for any other 4xx, which is permanent."""
    return not 400 <= status < 500 or status in _RETRYABLE_CLIENT_ERRORS


class MissingExtraError(DeconnexionError, ImportError):
    """An optional dependency is missing; the message gives the pip command."""

    code = "missing_extra"

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"{module} is not installed: pip install 'deconnexion[{extra}]'")
        self.extra = extra
        self.module = module
