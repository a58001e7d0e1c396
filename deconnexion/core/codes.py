"""The closed vocabularies of a decision: kinds, audiences, sender roles, calendar provenance and
reason codes. Their values are part of the JSON output and of the stored rows."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Audience", "Kind", "Provenance", "ReasonCode", "SenderRole"]


class Kind(StrEnum):
    GRADE = "grade"
    HOMEWORK = "homework"
    MESSAGE = "message"
    ANNOUNCEMENT = "announcement"
    ABSENCE = "absence"
    TIMETABLE = "timetable"
    OTHER = "other"


class Audience(StrEnum):
    STUDENTS = "students"
    PARENTS = "parents"
    STAFF = "staff"


class SenderRole(StrEnum):
    TEACHER = "teacher"
    CPE = "cpe"
    VIE_SCOLAIRE = "vie_scolaire"
    ADJOINT = "adjoint"
    DIRECTEUR_ECOLE = "directeur_ecole"
    CHEF_ETABLISSEMENT = "chef_etablissement"
    PARENT = "parent"
    STUDENT = "student"
    SYSTEM = "system"


class Provenance(StrEnum):
    """Where the calendar behind a decision comes from, best first."""

    OFFICIAL = "official"  # the ministry's dataset, or holidays' official years
    PROJECTED = "projected"  # holidays' rule-based projection of zones A/B/C
    UNKNOWN = "unknown"  # nothing published: estimated from the last known year

    @property
    def rank(self) -> int:
        return _PROVENANCE_RANK[self]


_PROVENANCE_RANK = {Provenance.OFFICIAL: 0, Provenance.PROJECTED: 1, Provenance.UNKNOWN: 2}


class ReasonCode(StrEnum):
    """Stable codes, part of the JSON output."""

    NIGHT = "night"
    WEEKEND = "weekend"
    PUBLIC_HOLIDAY = "public_holiday"
    SCHOOL_HOLIDAY = "school_holiday"
    CLOSURE = "closure"
    GRADE_PARENT_DELAY = "grade_parent_delay"
    GRADE_PUBLICATION = "grade_publication"
    URGENT_OVERRIDE = "urgent_override"
    URGENT_REFUSED = "urgent_refused"
