"""Decisions told in one sentence, in French for teachers and in English for logs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pendulum

from deconnexion.core.codes import Audience, ReasonCode

if TYPE_CHECKING:
    from deconnexion.core.message import Decision

__all__ = ["explain_en", "explain_fr", "format_fr"]

_AUDIENCE_FR = {Audience.STUDENTS: "", Audience.PARENTS: " aux parents", Audience.STAFF: ""}


def format_fr(moment: datetime, with_year: bool = False) -> str:
    """`lundi 3 novembre à 7 h 00` (pendulum's French locale)."""
    p = pendulum.instance(moment)
    day = p.format("dddd D MMMM YYYY" if with_year else "dddd D MMMM", locale="fr")
    day = day.replace(" 1 ", " 1er ") if p.day == 1 else day
    return f"{day} à {p.hour} h {p.minute:02d}"


_COMMON_NOUNS = ("vacances", "week-end", "nuit", "délai", "urgence", "fermeture", "pont", "journée")


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
    # The delay (grades to parents) and the main cause read best; the full list is in `reasons`.
    causes = [r for r in decision.reasons if r.code is not ReasonCode.URGENT_REFUSED]
    shown = [r for r in causes if r.code is ReasonCode.GRADE_PARENT_DELAY]
    shown += [r for r in causes if r.code is not ReasonCode.GRADE_PARENT_DELAY][:1]
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
