"""What `decide()` answers for a message created in one stretch of one local day, looked up.

A plain message (not urgent, no publication date, not a grade held for the parents' delay) is
released at the next opening at or after its creation. Every message created between the same
two bounds of the same local day gets the same answer: held or not, the same release datetime,
window end, reasons, calendar provenance and notes. Only its own fields (creation instant, kind,
audience) differ. `DayOutcomes` keeps, for one day, the bounds that fall inside it as aware
datetimes (`cuts`) and one `Outcome` per stretch between them: the answer is one `bisect` of
the creation datetime among two or three cuts, with no epoch arithmetic at all.

Comparing the creation datetime with the cuts is comparing instants only on a day whose UTC
offset does not change: datetimes sharing a `tzinfo` compare by wall time, fold ignored
(PEP 495). The days the offset changes (DST) therefore have no cuts and no outcome, and
`decide()` computes them in full (see `CompiledWindows.outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deconnexion.core.message import Provenance, Reason

__all__ = ["NO_OUTCOMES", "DayOutcomes", "Outcome"]


@dataclass(frozen=True, slots=True, eq=False)
class Outcome:
    """The decision for any plain message created in one stretch of one day, but its own fields.

    `release_at` (and `release`, its epoch) is None when the stretch is open: the message goes
    at its own creation. `open_until` is when the open window it is released into closes.
    `day_start` is the epoch of the local midnight the day begins at. Compared and hashed by
    identity (`eq=False`): one object per stretch, a cheap key for what follows from it (the
    parents' copy of a grade, `Scheduler.decide`)."""

    held: bool
    release_at: datetime | None
    open_until: datetime
    reasons: tuple[Reason, ...]
    provenance: Provenance
    notes: tuple[str, ...]
    release: float | None
    day_start: float


@dataclass(frozen=True, slots=True)
class DayOutcomes:
    """One local day: the bounds inside it (aware, in the calendar's zone) and the outcome of
    each stretch, `outcomes[bisect_right(cuts, created_at)]`; None where `decide()` must compute
    in full (past the last compiled opening)."""

    cuts: tuple[datetime, ...]
    outcomes: tuple[Outcome | None, ...]


# A day `decide()` always computes in full: one stretch, no outcome (the days the UTC offset
# changes, where wall times do not order instants).
NO_OUTCOMES = DayOutcomes(cuts=(), outcomes=(None,))
