"""deconnexion: the droit à la déconnexion for French school software.

The public API is exactly `__all__` (tests/test_exported_members.py checks it); everything else
may change. The core (territories → calendar → policy → windows → scheduler) needs only
pendulum, holidays and pydantic; the edges load their extras lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# The core a decision needs is imported now; everything else on first use.
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

if TYPE_CHECKING:  # what type checkers see for the names loaded on first use below
    from deconnexion.core.audit import AuditReport, audit_policy
    from deconnexion.hold.queue import HoldQueue, HoldRequest, HoldResult
    from deconnexion.release.deliver import Delivery
    from deconnexion.release.follow import SchedulerLookup
    from deconnexion.release.worker import ReleaseWorker
    from deconnexion.store import (
        AuditEntry,
        HeldMessage,
        HoldStore,
        MemoryStore,
        Stats,
        open_store,
    )
    from deconnexion.web.admin import admin_app
    from deconnexion.web.identity import ScopeIdentity, Sender, SenderUser
    from deconnexion.web.middleware import DeconnexionMiddleware
    from deconnexion.web.replay import replay_deliverer
    from deconnexion.web.routes import RouteRule, RouteRules, Routes
    from deconnexion.web.signing import SignedHeaderResolver, sign_sender
    from deconnexion.web.tenant import (
        EstablishmentResolver,
        by_uai,
        fixed,
        from_header,
        from_sender,
    )

__version__ = "0.1.0"

# Loaded on first use (PEP 562), so that `import deconnexion` costs little more than its own
# dependencies (benchmarks/import_time.py) and pulls in no optional extra. The ASGI edge needs
# the `asgi` extra (starlette, anyio): a missing one gives a one-line install hint.
_LAZY = {
    "AuditReport": "deconnexion.core.audit",
    "audit_policy": "deconnexion.core.audit",
    "HoldQueue": "deconnexion.hold.queue",
    "HoldRequest": "deconnexion.hold.queue",
    "HoldResult": "deconnexion.hold.queue",
    "Delivery": "deconnexion.release.deliver",
    "ReleaseWorker": "deconnexion.release.worker",
    "SchedulerLookup": "deconnexion.release.follow",
    "AuditEntry": "deconnexion.store",
    "HeldMessage": "deconnexion.store",
    "HoldStore": "deconnexion.store",
    "MemoryStore": "deconnexion.store",
    "Stats": "deconnexion.store",
    "open_store": "deconnexion.store",
    "ScopeIdentity": "deconnexion.web.identity",
    "Sender": "deconnexion.web.identity",
    "SenderUser": "deconnexion.web.identity",
    "RouteRule": "deconnexion.web.routes",
    "RouteRules": "deconnexion.web.routes",
    "Routes": "deconnexion.web.routes",
    "SignedHeaderResolver": "deconnexion.web.signing",
    "sign_sender": "deconnexion.web.signing",
    "EstablishmentResolver": "deconnexion.web.tenant",
    "by_uai": "deconnexion.web.tenant",
    "fixed": "deconnexion.web.tenant",
    "from_header": "deconnexion.web.tenant",
    "from_sender": "deconnexion.web.tenant",
    "DeconnexionMiddleware": "deconnexion.web.middleware",
    "admin_app": "deconnexion.web.admin",
    "replay_deliverer": "deconnexion.web.replay",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'deconnexion' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "anyio", "httpx", "uvicorn"):
            raise MissingExtraError("asgi", exc.name) from None
        raise
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "EstablishmentResolver",
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
    "SchedulerLookup",
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
    "by_uai",
    "fixed",
    "from_header",
    "from_sender",
    "open_store",
    "replay_deliverer",
    "resolve",
    "sign_sender",
    "territory",
]
