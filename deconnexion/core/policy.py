"""The policy: when diffusion is open, who may override, how long parents wait for grades.

`Policy.national()` is the rule of the ministry, written as a declaration. A policy may be
stricter than the national rule; anything looser is refused unless declared as a `Deviation`,
and every deviation shows in the conformance audit (`deconnexion audit`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from deconnexion.core.config_file import load_mapping
from deconnexion.core.message import Audience, Kind, PolicyIdentity, SenderRole
from deconnexion.errors import PolicyError

__all__ = [
    "NATIONAL_SOURCES",
    "AudienceRule",
    "Closure",
    "Deviation",
    "OpenHours",
    "Policy",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Where each national requirement comes from; the audit prints these.
NATIONAL_SOURCES: dict[str, str] = {
    "open_hours": "IGÉSR 24-25 140C, recommandation 1; circulaire de rentrée 2025 "
    "(pas de diffusion entre 20 h et 7 h)",
    "weekend_days": "IGÉSR 24-25 140C, recommandation 1 (du vendredi 20 h au lundi 7 h)",
    "school_holidays": "IGÉSR 24-25 140C, recommandation 1 (périodes de vacances scolaires)",
    "public_holidays": "IGÉSR 24-25 140C, recommandation 1, par la même logique (jours fériés)",
    "urgent_roles": "IGÉSR 24-25 140C, recommandation 1 (« à l'exception de l'urgence et à la "
    "seule main des directeurs d'école et des chefs d'établissement »)",
    "urgent_requires_justification": "IGÉSR 24-25 140C, recommandation 1 (urgence justifiée)",
    "grade_parent_delay": "IGÉSR 24-25 140C, recommandation 11 (notes aux parents 24 h après "
    "les élèves)",
    "access": "IGÉSR 24-25 140C, recommandation 1 (« sans pour autant interrompre l'accès aux "
    "services », consultation et saisie restent ouvertes)",
    "grade_students": "IGÉSR 24-25 140C, recommandation 11 (l'élève voit la note à une heure "
    "raisonnable)",
}

HEAD_ROLES = frozenset({SenderRole.DIRECTEUR_ECOLE, SenderRole.CHEF_ETABLISSEMENT})

LOOSENABLE_FIELDS = (
    "open_hours",
    "weekend_days",
    "school_holidays",
    "public_holidays",
    "urgent_roles",
    "urgent_requires_justification",
    "grade_parent_delay",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenHours(_Model):
    """Local wall-clock hours when diffusion is open on a school day: [start, end)."""

    start: time = time(7, 0)
    end: time = time(20, 0)

    @model_validator(mode="after")
    def _ordered(self) -> OpenHours:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("open hours are local wall-clock times: give them without offset")
        if not self.start < self.end:
            raise ValueError(
                f"start {self.start.isoformat('minutes')} must be before end "
                f"{self.end.isoformat('minutes')} (hours spanning midnight are not accepted)"
            )
        return self

    def within(self, other: OpenHours) -> bool:
        """True when these hours are inside `other` (as strict or stricter)."""
        return self.start >= other.start and self.end <= other.end

    def label(self) -> str:
        return f"{self.start.isoformat('minutes')}–{self.end.isoformat('minutes')}"


class AudienceRule(_Model):
    """Per-audience override (e.g. stricter hours for parents)."""

    open_hours: OpenHours | None = None


class Closure(_Model):
    """A day or span the establishment is closed: a strike, an exam centre, a "pont"."""

    start: date
    end: date | None = None  # inclusive; defaults to start
    label: str = "Fermeture de l'établissement"
    establishments: frozenset[str] | None = None  # UAI or ids; None: every establishment
    audiences: frozenset[Audience] | None = None  # None: every audience

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def last(self) -> date:
        return self.end or self.start

    def applies_to(self, establishment_ids: frozenset[str], audience: Audience) -> bool:
        if self.audiences is not None and audience not in self.audiences:
            return False
        if self.establishments is None:
            return True
        return bool(self.establishments & establishment_ids)


class Deviation(_Model):
    """A declared, justified loosening of one national requirement."""

    field: Literal[
        "open_hours",
        "weekend_days",
        "school_holidays",
        "public_holidays",
        "urgent_roles",
        "urgent_requires_justification",
        "grade_parent_delay",
    ]
    justification: str = Field(min_length=3)
    approved_by: str | None = None


# The national values (docs/RULES.md §1, §3), compared against by `Policy.loosenings`.
_NATIONAL_HOURS = OpenHours(start=time(7, 0), end=time(20, 0))
_NATIONAL_WEEKEND = frozenset({5, 6})
_NATIONAL_DELAY = timedelta(hours=24)


class Policy(_Model):
    """Everything the scheduler needs besides the calendar."""

    name: str = "national"
    open_hours: OpenHours = OpenHours()
    weekend_days: frozenset[int] = frozenset({5, 6})  # 0 = Monday … 6 = Sunday
    school_holidays: bool = True
    public_holidays: bool = True
    grade_parent_delay: timedelta = timedelta(hours=24)
    urgent_roles: frozenset[SenderRole] = HEAD_ROLES
    urgent_requires_justification: bool = True
    audiences: dict[Audience, AudienceRule] = Field(default_factory=dict)
    # Hours at which new grades become visible to students (as Pronote offers since 2025), e.g.
    # ("12:00", "17:00"): a grade shows at the first of them at or after its publication that
    # is open. Empty: at the next open moment. The parents' delay counts from that release.
    grade_publication: tuple[time, ...] = ()
    closures: tuple[Closure, ...] = ()
    deviations: tuple[Deviation, ...] = ()
    calendar_mode: Literal["estimate", "strict"] = "estimate"
    # how long a message of a kind keeps its meaning, from its creation: one held past it is
    # not delivered ("expired"), e.g. `expires_after = {timetable = "12h"}`
    expires_after: dict[Kind, timedelta] = Field(default_factory=dict)

    @field_validator("weekend_days", mode="before")
    @classmethod
    def _weekday_names(cls, value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(_weekday(v) for v in value)
        return value

    @field_validator("grade_parent_delay", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        # Files say `grade_parent_delay = "24h"` or a number of hours; pydantic alone would
        # read a bare number as seconds, which nobody means here.
        return _hours_or_duration(value)

    @field_validator("expires_after", mode="before")
    @classmethod
    def _expiry_hours(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {kind: _hours_or_duration(delay) for kind, delay in value.items()}
        return value

    @field_validator("expires_after")
    @classmethod
    def _expiry_positive(cls, value: dict[Kind, timedelta]) -> dict[Kind, timedelta]:
        for kind, delay in value.items():
            if delay <= timedelta(0):
                raise ValueError(
                    f'expires_after.{kind.value} must be a positive duration (e.g. "12h"), '
                    f"got {delay}"
                )
        return value

    @field_validator("grade_publication", mode="before")
    @classmethod
    def _clock_times(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple | set | frozenset):
            return tuple(sorted({_clock_time(v) for v in value}))
        return value

    @field_validator("grade_publication")
    @classmethod
    def _inside_open_hours(cls, value: tuple[time, ...], info: ValidationInfo) -> tuple[time, ...]:
        # Validated after open_hours and audiences (declared before): a publication hour is a
        # release, so it must fall inside the students' open hours.
        hours = info.data.get("open_hours")
        rule = info.data.get("audiences", {}).get(Audience.STUDENTS)
        if rule is not None and rule.open_hours is not None:
            hours = rule.open_hours
        if hours is None:  # open_hours itself was refused; that error is reported
            return value
        outside = [t for t in value if not hours.start <= t < hours.end]
        if outside:
            shown = ", ".join(t.isoformat("minutes") for t in outside)
            raise ValueError(
                f"{shown} outside the students' open hours {hours.label()}: a grade must "
                "become visible inside open hours; expected times within them, e.g. "
                '["12:00", "17:00"]'
            )
        return value

    @model_validator(mode="after")
    def _not_looser_than_national(self, info: ValidationInfo) -> Policy:
        if self.grade_parent_delay < timedelta(0):
            raise ValueError(
                f"grade_parent_delay must not be negative, got {self.grade_parent_delay}"
            )
        # The audit validates with context={"allow_loose": True} to report what is loose
        # instead of refusing the file.
        if info.context and info.context.get("allow_loose"):
            return self
        declared = {d.field for d in self.deviations}
        loose = [f for f, _ in self.loosenings() if f not in declared]
        if loose:
            details = "; ".join(why for f, why in self.loosenings() if f in loose)
            raise ValueError(
                f"looser than the national rule without a declared deviation: {details}. "
                "Make it stricter, or add a [[deviations]] entry with field and justification"
            )
        if self.grade_parent_delay < timedelta(0):
            raise ValueError(
                f"grade_parent_delay must not be negative, got {self.grade_parent_delay}"
            )
        return self

    def loosenings(self) -> list[tuple[str, str]]:
        """(field, explanation) for each way this policy is looser than the national rule."""
        out: list[tuple[str, str]] = []
        hours = [("", self.open_hours)] + [
            (f" for {a.value}", r.open_hours) for a, r in self.audiences.items() if r.open_hours
        ]
        for where, h in hours:
            if not h.within(_NATIONAL_HOURS):
                out.append(
                    (
                        "open_hours",
                        f"open_hours{where} {h.label()} exceed {_NATIONAL_HOURS.label()}",
                    )
                )
        missing = _NATIONAL_WEEKEND - self.weekend_days
        if missing:
            out.append(
                (
                    "weekend_days",
                    "weekend_days omits " + ", ".join(WEEKDAYS[d] for d in sorted(missing)),
                )
            )
        if not self.school_holidays:
            out.append(("school_holidays", "school_holidays = false opens diffusion in holidays"))
        if not self.public_holidays:
            out.append(
                ("public_holidays", "public_holidays = false opens diffusion on jours fériés")
            )
        extra = self.urgent_roles - HEAD_ROLES
        if extra:
            out.append(
                (
                    "urgent_roles",
                    "urgent_roles adds "
                    + ", ".join(sorted(r.value for r in extra))
                    + " (only directeur_ecole and chef_etablissement may override)",
                )
            )
        if not self.urgent_requires_justification:
            out.append(
                ("urgent_requires_justification", "urgent overrides without a justification")
            )
        if self.grade_parent_delay < _NATIONAL_DELAY:
            out.append(
                (
                    "grade_parent_delay",
                    f"grade_parent_delay {_hours_label(self.grade_parent_delay)} is shorter "
                    f"than {_hours_label(_NATIONAL_DELAY)}",
                )
            )
        return out

    def hours_for(self, audience: Audience) -> OpenHours:
        rule = self.audiences.get(audience)
        return (
            rule.open_hours if rule is not None and rule.open_hours is not None else self.open_hours
        )

    def __hash__(self) -> int:
        # Frozen, so usable as a cache key; pydantic's generated hash fails on `audiences` (a dict).
        return hash(self.fingerprint)

    @cached_property
    def fingerprint(self) -> str:
        """A stable digest of the policy, used as a compile-cache key."""
        return self.identity.digest[:16]

    @cached_property
    def identity(self) -> PolicyIdentity:
        """The policy's canonical JSON (keys sorted, sets as sorted lists: equal policies give
        the same text whatever the order they were written in) and its SHA-256."""
        text = json.dumps(
            _canonical(self.model_dump(mode="json")),
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return PolicyIdentity(hashlib.sha256(text.encode()).hexdigest(), text)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def national(cls) -> Policy:
        """The national rule (docs/RULES.md §1–3), every value cited in `NATIONAL_SOURCES`."""
        return _NATIONAL_VALUES

    @classmethod
    def from_mapping(
        cls, data: dict[str, Any], source: str = "policy", *, allow_loose: bool = False
    ) -> Policy:
        """Validate `data`; `allow_loose=True` accepts undeclared loosenings (for the audit)."""
        try:
            return cls.model_validate(data, context={"allow_loose": allow_loose})
        except ValidationError as exc:
            raise PolicyError(_describe(exc, source)) from None

    @classmethod
    def from_recorded(cls, identity: PolicyIdentity) -> Policy:
        """The policy a held message was decided under, from the JSON its store recorded."""
        try:
            data = json.loads(identity.json)
        except ValueError as exc:
            raise PolicyError(f"recorded policy {identity.digest}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise PolicyError(f"recorded policy {identity.digest}: expected a JSON object")
        return cls.from_mapping(data, source=f"recorded policy {identity.digest}")

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Load a policy from a `.toml` or `.json` file; errors name the file and the field."""
        data = load_mapping(path, "policy file", PolicyError)
        return cls.from_mapping(data, source=f"policy file {str(path)!r}")


def _hours_or_duration(value: Any) -> Any:
    """`"24h"` or a bare number: hours; anything else is left to pydantic (ISO 8601…)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(hours=value)
    if isinstance(value, str) and value.strip().lower().endswith("h"):
        try:
            return timedelta(hours=float(value.strip()[:-1]))
        except ValueError:
            pass
    return value


def _canonical(value: Any) -> Any:
    """Lists of plain values (frozensets in the model) sorted; dicts and other lists kept."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if all(isinstance(v, str) for v in items) or all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in items
        ):
            return sorted(items)
        return items
    return value


def _hours_label(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def _clock_time(value: Any) -> time:
    """ "17:00" (or a `time`) as a local wall-clock time; anything else names what is accepted."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str):
        text = value.strip()
        hh, sep, mm = text.partition(":")
        if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and len(hh) <= 2:
            if int(hh) < 24 and int(mm) < 60:
                return time(int(hh), int(mm))
    raise ValueError(
        f"{value!r} is not a time of day: expected local wall-clock times written HH:MM, "
        'e.g. ["12:00", "17:00"]'
    )


def _weekday(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str):
        name = value.strip().lower()
        for i, day in enumerate(WEEKDAYS):
            if name in (day, day[:3]):
                return i
        french = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
        if name in french:
            return french.index(name)
    raise ValueError(
        f"unknown weekday {value!r}: expected 0–6 (0 = Monday) or a name such as 'saturday'"
    )


# What a policy file may write where pydantic's own message names only the type it wanted.
_ACCEPTED = {
    "time_delta_type": 'expected an ISO 8601 duration such as "PT24H" or "P2D", or seconds',
    "time_delta_parsing": 'expected an ISO 8601 duration such as "PT24H" or "P2D", or seconds',
    "time_type": 'expected a local time "HH:MM" such as "07:30"',
    "time_parsing": 'expected a local time "HH:MM" such as "07:30"',
}


def _describe(exc: ValidationError, source: str) -> str:
    """One line per error: where, what is wrong, the value given and what is accepted."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        accepted = _ACCEPTED.get(err["type"])
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            accepted = "accepted fields: " + ", ".join(sorted(Policy.model_fields))
        value = err.get("input")
        # a model's own check gets the whole table as input: not worth repeating
        shown = "" if isinstance(value, dict) and accepted is None else f" (got {value!r})"
        parts.append(f"{loc}: {msg}{shown}" + (f"; {accepted}" if accepted else ""))
    return f"{source}: " + "; ".join(parts)


_NATIONAL_VALUES = Policy(
    name="national",
    # Recommendation 1 / circulaire de rentrée 2025: no diffusion 20:00–07:00.
    open_hours=OpenHours(start=time(7, 0), end=time(20, 0)),
    # Recommendation 1: nothing from Friday 20:00 to Monday 07:00.
    weekend_days=frozenset({5, 6}),
    # Recommendation 1: nothing during school holidays; public holidays by the same logic.
    school_holidays=True,
    public_holidays=True,
    # Recommendation 11: parents see grades 24 hours after the students.
    grade_parent_delay=timedelta(hours=24),
    # Recommendation 1: urgency only at the hand of school directors and heads of establishment.
    urgent_roles=HEAD_ROLES,
    urgent_requires_justification=True,
)
