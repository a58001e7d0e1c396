"""deconnexion: the droit à la déconnexion for French school software."""

from __future__ import annotations

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

__version__ = "0.1.0"
