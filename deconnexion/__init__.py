"""deconnexion: the droit à la déconnexion for French school software.

The public API is exactly `__all__` (tests/test_exported_members.py checks it); everything else
may change. The core (territories → calendar → policy → windows → scheduler) needs only
pendulum, holidays and pydantic; the edges load their extras lazily.
"""

from __future__ import annotations

from deconnexion.core.audit import AuditReport, audit_policy
from deconnexion.core.calendar_data import SchoolCalendar
from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Provenance,
    Reason,
    ReasonCode,
    SenderRole,
)
from deconnexion.core.policy import AudienceRule, Closure, Deviation, OpenHours, Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment, Location, Territory, resolve, territory
from deconnexion.core.windows import QuietWindow
from deconnexion.errors import (
    CalendarFileError,
    CalendarUnknownError,
    DeconnexionError,
    DeliveryError,
    InvalidInputError,
    MissingExtraError,
    NaiveDatetimeError,
    NotADatabaseError,
    OutOfRangeError,
    PayloadError,
    PermanentDeliveryError,
    PolicyError,
    StoreError,
    UnknownTerritoryError,
)
from deconnexion.hold.queue import HoldQueue, HoldRequest, HoldResult
from deconnexion.release.deliver import Delivery
from deconnexion.release.worker import ReleaseWorker
from deconnexion.store import AuditEntry, HeldMessage, HoldStore, MemoryStore, Stats, open_store
from deconnexion.web.identity import ScopeIdentity, Sender, SenderUser
from deconnexion.web.routes import RouteRule, RouteRules, Routes
from deconnexion.web.signing import SignedHeaderResolver, sign_sender

__version__ = "0.1.0"

# The ASGI edge needs the `asgi` extra (starlette, anyio): loaded on first use, so that
# `import deconnexion` stays free of it, with a one-line install hint when it is missing.
_LAZY = {
    "DeconnexionMiddleware": "deconnexion.web.middleware",
    "admin_app": "deconnexion.web.admin",
    "replay_deliverer": "deconnexion.web.replay",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deconnexion' has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "anyio", "httpx", "uvicorn"):
            raise MissingExtraError("asgi", exc.name) from None
        raise


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
    "DeconnexionMiddleware",
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
    "RouteRule",
    "RouteRules",
    "Routes",
    "Scheduler",
    "SchoolCalendar",
    "ScopeIdentity",
    "Sender",
    "SenderRole",
    "SenderUser",
    "SignedHeaderResolver",
    "Stats",
    "StoreError",
    "Territory",
    "UnknownTerritoryError",
    "__version__",
    "admin_app",
    "audit_policy",
    "open_store",
    "replay_deliverer",
    "resolve",
    "sign_sender",
    "territory",
]
