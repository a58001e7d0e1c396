"""Decisions told in one sentence, in French for teachers and in English for logs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from deconnexion.core.codes import Audience, ReasonCode

if TYPE_CHECKING:
    from deconnexion.core.message import Decision

__all__ = ["explain_en", "explain_fr", "format_fr"]

_AUDIENCE_FR = {Audience.STUDENTS: "", Audience.PARENTS: " aux parents", Audience.STAFF: ""}


_DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def format_fr(moment: datetime, with_year: bool = False) -> str:
    """`lundi 3 novembre à 7 h 00`, `samedi 1er janvier 2028 à 7 h 00` with the year.

    Plain tables rather than pendulum's French locale, which reloads the time zone file at
    every call: measured 60 µs a sentence against 1 µs, and the batch CLI writes one per line.
    """
    day = "1er" if moment.day == 1 else str(moment.day)
    text = f"{_DAYS_FR[moment.weekday()]} {day} {_MONTHS_FR[moment.month - 1]}"
    if with_year:
        text += f" {moment.year}"
    return f"{text} à {moment.hour} h {moment.minute:02d}"


_COMMON_NOUNS = (
    "vacances",
    "week-end",
    "nuit",
    "délai",
    "urgence",
    "fermeture",
    "pont",
    "journée",
    "publication",
)
# Always told when present: the parents' delay (first) and the grade publication hour (last).
_TOLD = (ReasonCode.GRADE_PARENT_DELAY, ReasonCode.GRADE_PUBLICATION, ReasonCode.URGENT_REFUSED)


def _lower_first(text: str) -> str:
    """Lower-case a label's first letter inside a sentence, unless it starts a proper noun."""
    if text.lower().startswith(_COMMON_NOUNS):
        return text[:1].lower() + text[1:]
    return text


def explain_fr(decision: Decision) -> str:
    codes = [r.code for r in decision.reasons]
    if ReasonCode.URGENT_OVERRIDE in codes:
        return f"Diffusion immédiate : {_lower_first(decision.reasons[0].label_fr)}"
    if not decision.held:
        return "Diffusion immédiate : créneau ouvert"
    with_year = decision.release_at.year != decision.created_at.year
    when = format_fr(decision.release_at, with_year)
    # The delay (grades to parents), the main cause and the publication hour (« publication des
    # notes à 17 h ») read best, in that order; the full list is in `reasons`.
    causes = decision.reasons
    shown = [r for r in causes if r.code is ReasonCode.GRADE_PARENT_DELAY]
    shown += [r for r in causes if r.code not in _TOLD][:1]
    shown += [r for r in causes if r.code is ReasonCode.GRADE_PUBLICATION]
    # Nothing quiet in between: the sender chose a later publication (`publish_to_students_at`).
    why = ", puis ".join(_lower_first(r.label_fr) for r in shown) or "publication programmée"
    sentence = f"Diffusion{_AUDIENCE_FR[decision.audience]} différée au {when} : {why}"
    refused = [r for r in decision.reasons if r.code is ReasonCode.URGENT_REFUSED]
    if refused:
        sentence += f" ({_lower_first(refused[0].label_fr)})"
    return sentence


def explain_en(decision: Decision) -> str:
    if not decision.held:
        return "Released now" + (f": {decision.reasons[0].label_en}" if decision.reasons else "")
    why = ", then ".join(r.label_en for r in decision.reasons) or "scheduled publication"
    return f"Held until {decision.release_at.isoformat()}: {why}"
