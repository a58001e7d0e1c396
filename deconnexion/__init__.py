"""deconnexion: the droit à la déconnexion for French school software.

The public API is exactly `__all__` (tests/test_exported_members.py checks it); everything else
may change. The core (territories → calendar → policy → windows → scheduler) needs only
pendulum, holidays and pydantic; the edges load their extras lazily.
"""

from __future__ import annotations

from .audit import AuditReport, audit_policy
from .calendar_data import SchoolCalendar
from .deliver import Delivery, DeliveryError, PermanentDeliveryError
from .errors import (
    CalendarFileError,
    CalendarUnknownError,
    DeconnexionError,
    InvalidInputError,
    MissingExtraError,
    NaiveDatetimeError,
    NotADatabaseError,
    OutOfRangeError,
    PayloadError,
    PolicyError,
    StoreError,
    UnknownTerritoryError,
)
from .message import Audience, Decision, Kind, Message, Provenance, Reason, ReasonCode, SenderRole
from .policy import AudienceRule, Closure, Deviation, OpenHours, Policy
from .queue import HoldQueue, HoldRequest, HoldResult
from .scheduler import Scheduler
from .store import AuditEntry, HeldMessage, HoldStore, MemoryStore, Stats, open_store
from .territories import Establishment, Location, Territory, resolve, territory
from .windows import QuietWindow
from .worker import ReleaseWorker

__version__ = "0.1.0"

__all__ = [
    "Audience",
    "AudienceRule",
    "AuditEntry",
    "AuditReport",
    "CalendarFileError",
    "CalendarUnknownError",
    "Closure",
    "Decision",
    "DeconnexionError",
    "Delivery",
    "DeliveryError",
    "Deviation",
    "Establishment",
    "HeldMessage",
    "HoldQueue",
    "HoldRequest",
    "HoldResult",
    "HoldStore",
    "InvalidInputError",
    "Kind",
    "Location",
    "MemoryStore",
    "Message",
    "MissingExtraError",
    "NaiveDatetimeError",
    "NotADatabaseError",
    "OpenHours",
    "OutOfRangeError",
    "PayloadError",
    "PermanentDeliveryError",
    "Policy",
    "PolicyError",
    "Provenance",
    "QuietWindow",
    "Reason",
    "ReasonCode",
    "ReleaseWorker",
    "Scheduler",
    "SchoolCalendar",
    "SenderRole",
    "Stats",
    "StoreError",
    "Territory",
    "UnknownTerritoryError",
    "__version__",
    "audit_policy",
    "open_store",
    "resolve",
    "territory",
]
