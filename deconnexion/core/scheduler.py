"""The pure scheduler: when may a message be released, and why.

No I/O after construction, deterministic, thread-safe. Compiled windows are cached across
establishments that share a calendar (same zone, subdivision, time zone, level and closures).

Rules (docs/RULES.md §1–3):
- every message: the next open moment at or after its creation;
- grades to students, when the policy sets publication hours (`grade_publication`): the first
  of those hours at or after the next open moment;
- grades to parents: the next open moment at or after the students' release + the delay
  (24 h elapsed by default);
- urgent, from an allowed role, with a justification: released now (`urgent_override`);
  urgent from anyone else: not honoured, held like any message (`urgent_refused`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, overload

from deconnexion.core.caches import CACHES, Table
from deconnexion.core.calendar import build_days, calendar_for
from deconnexion.core.calendar_data import SchoolCalendar
from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Provenance,
    Reason,
    ReasonCode,
    build_decision,
)
from deconnexion.core.outcomes import Outcome
from deconnexion.core.policy import Policy
from deconnexion.core.territories import Establishment
from deconnexion.core.timeutil import aware, zone
from deconnexion.core.windows import CompiledWindows, QuietWindow
from deconnexion.errors import CalendarUnknownError, OutOfRangeError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["Scheduler", "clear_cache"]

# Enum members read once: on Python 3.11 `Kind.GRADE` goes through the `__getattr__` hook of
# EnumType at about 1,000 instructions a read, a module global costs some 50 (callgrind: a
# plain decision 10,700 → 9,700 instructions).
_GRADE = Kind.GRADE
_PARENTS = Audience.PARENTS
_STUDENTS = Audience.STUDENTS
_UNKNOWN = Provenance.UNKNOWN

_COMPILED: Table[tuple[Any, ...], CompiledWindows] = CACHES.table("compiled windows")

# Forget every compiled calendar, and every other cache (after importing a newer official
# calendar): the registry's one clear (see deconnexion.core.caches).
clear_cache = CACHES.clear


def _compiled(
    policy: Policy, establishment: Establishment, audience: Audience, calendar: SchoolCalendar
) -> CompiledWindows:
    ids = frozenset(x for x in (establishment.key, establishment.uai, establishment.id) if x)
    closures = tuple(c for c in policy.closures if c.applies_to(ids, audience))
    population = calendar_for(audience)
    hours = policy.hours_for(audience)
    key = (
        establishment.calendar_key,
        population,
        hours,
        policy.weekend_days,
        policy.school_holidays,
        policy.public_holidays,
        closures,
        calendar.digest,
    )

    def compile_windows() -> CompiledWindows:
        loc = establishment.location
        sheet = build_days(
            calendar=calendar,
            calendar_zone=loc.calendar_zone,
            calendar_place=loc.calendar_place,
            school_subdiv=loc.school_subdiv,
            public_subdiv=loc.public_subdiv,
            population=population,
            level=establishment.level,
            weekend_days=policy.weekend_days,
            school_holidays=policy.school_holidays,
            public_holidays=policy.public_holidays,
            closures=closures,
        )
        # The establishment's own zone (part of `calendar_key`, so of the cache key).
        return CompiledWindows(sheet, hours, zone(establishment.timezone))

    return _COMPILED.get_or_build(key, compile_windows)


class Scheduler:
    """Release times for one establishment under one policy."""

    def __init__(
        self,
        policy: Policy | None = None,
        establishment: Establishment | None = None,
        *,
        calendar: SchoolCalendar | None = None,
        **where: str,
    ) -> None:
        """`Scheduler(policy, Establishment(uai=…))`, or `Scheduler(zone="C")` for short."""
        self.policy = policy or Policy.national()
        self.establishment = establishment or Establishment(**where)
        self.calendar = calendar or SchoolCalendar.default()
        # Looked up once: `decide` runs hundreds of thousands of times a second.
        self._tz_name = self.establishment.timezone
        self.tz = zone(self._tz_name)
        self._strict = self.policy.calendar_mode == "strict"
        self._delay = self.policy.grade_parent_delay.total_seconds()
        self._delay_reason = _delay_reason(self.policy)
        self._slots = self.policy.grade_publication
        # Audiences whose grades are plain messages (`decide()`'s lookup): not the parents (the
        # delay after the students), nor the students when grades have publication hours.
        self._plain_grades = frozenset(
            {Audience.STAFF} if self._slots else {_STUDENTS, Audience.STAFF}
        )
        self._identity = self.policy.identity  # recorded with every held message
        self._expiry = {k: d.total_seconds() for k, d in self.policy.expires_after.items()}
        self._windows: dict[Audience, CompiledWindows] = {}
        # The parents' outcome of a grade, by the students' outcome it follows (`_after_delay`)
        self._parents_after: dict[Outcome, Outcome] = {}
        for audience in Audience:
            self._windows[audience] = _compiled(
                self.policy, self.establishment, audience, self.calendar
            )

    def windows(self, audience: Audience | str = _STUDENTS) -> CompiledWindows:
        return self._windows[Audience(audience)]

    # -- instants ----------------------------------------------------------------------------

    def is_quiet(self, t: datetime, audience: Audience | str = _STUDENTS) -> bool:
        w = self.windows(audience)
        epoch = aware(t, "t").timestamp()
        self._guard(w, epoch, epoch)
        return not w.is_open(epoch)

    def next_open(self, t: datetime, audience: Audience | str = _STUDENTS) -> datetime:
        """`t` itself when open, else the next open moment, in the establishment's zone."""
        w = self.windows(audience)
        epoch = aware(t, "t").timestamp()
        release = w.next_open(epoch)
        self._guard(w, epoch, release)
        return (
            t.astimezone(self.tz) if release == epoch else datetime.fromtimestamp(release, self.tz)
        )

    @overload
    def next_open_many(
        self, epoch_seconds: Sequence[float], audience: Audience | str = ...
    ) -> list[float]: ...
    @overload
    def next_open_many(
        self, epoch_seconds: NDArray[np.float64], audience: Audience | str = ...
    ) -> NDArray[np.float64]: ...

    def next_open_many(
        self,
        epoch_seconds: Sequence[float] | NDArray[np.float64],
        audience: Audience | str = _STUDENTS,
    ) -> list[float] | NDArray[np.float64]:
        """Bulk form of `next_open` on epoch seconds (the fast path for millions of instants).

        A list (or any sequence) of floats gives a list; a numpy array gives a numpy array.
        """
        w = self.windows(audience)
        out = w.next_open_many(epoch_seconds)
        if self.policy.calendar_mode == "strict" and len(out):
            self._guard(w, float(min(epoch_seconds)), float(max(out)))
        return out

    def quiet_windows(
        self, start: datetime, end: datetime, audience: Audience | str = _STUDENTS
    ) -> list[QuietWindow]:
        """Each quiet stretch intersecting [start, end), with its reasons."""
        w = self.windows(audience)
        a, b = aware(start, "start").timestamp(), aware(end, "end").timestamp()
        out = []
        for lo, hi in w.quiet_between(a, b):
            out.append(
                QuietWindow(
                    datetime.fromtimestamp(lo, self.tz),
                    datetime.fromtimestamp(hi, self.tz),
                    w.reasons(lo, hi),
                )
            )
        return out

    # -- messages ----------------------------------------------------------------------------

    def decide(self, message: Message) -> Decision:
        # `vars(message)` once, then one dict read per field: a pydantic model's attribute read
        # goes through its `__getattr__` hook (BaseModel defines one for private attributes).
        return self._decide_fields(vars(message))

    def decide_at(self, created_at: datetime, like: Message) -> Decision:
        """`decide()` of the message `like` but created at `created_at` (aware), without
        validating a new `Message`: `created_at` is the only field whose check (`aware`) reads
        the creation, and it is made here. The batch CLI decides many lines of one template so
        (measured, callgrind: about 21,000 instructions a line saved)."""
        fields = dict(vars(like))
        fields["created_at"] = aware(created_at, "created_at")
        return self._decide_fields(fields)

    def _decide_fields(self, fields: dict[str, Any]) -> Decision:
        """`decide()` of the message whose validated fields are `fields` (`vars` of one)."""
        created_at = fields["created_at"]
        audience = fields["audience"]
        kind = fields["kind"]
        # Looked up, not computed: the answer by the stretch of the day the message was created
        # in (`CompiledWindows.outcome`: no epoch, reasons or provenance to compute), for a plain
        # message and for the parents' copy of a grade the students wait for (`_after_delay`);
        # then the `Decision` built from it (`build_decision`, positional); a refused urgency
        # adds its reason. Measured (callgrind, the benchmark's messages): 9,700 instructions
        # for a plain message instead of about 26,000, 17,800 for a grade to parents and 24,600
        # for an urgent message (from about 40,000 each); 10,700 on average, from 28,300.
        found: Outcome | None = None
        students_release_at = None
        if fields["publish_to_students_at"] is None:
            if kind is not _GRADE or audience in self._plain_grades:
                found = self._windows[audience].outcome(created_at)
            elif audience is _PARENTS and not self._slots:
                students = self._windows[_STUDENTS].outcome(created_at)
                if students is not None and students.held:
                    found = self._after_delay(students)
                    students_release_at = students.release_at
        if found is None or (self._strict and found.provenance is _UNKNOWN):
            return self._decide(fields)
        reasons = found.reasons
        if fields["urgent"]:
            if self._honours(fields):
                return self._urgent(fields, self._windows[audience])
            if found.held:
                reasons += (_refusal(fields, self.policy),)
        return build_decision(
            found.held,
            created_at if found.release_at is None else found.release_at,
            created_at,
            audience,
            kind,
            reasons,
            found.provenance,
            students_release_at,
            self._tz_name,
            found.notes,
            found.open_until,
            self._identity,
            self._expires_at(kind, self._windows[audience].epoch(created_at))
            if self._expiry
            else None,
        )

    def _after_delay(self, students: Outcome) -> Outcome | None:
        """The outcome of a grade's copy to the parents when the students' copy waits for
        `students.release`: the next opening after the delay, the same for every grade created
        in that stretch of that day (kept per students' outcome). None past the compiled range
        (the full computation says why)."""
        found = self._parents_after.get(students)
        if found is None and students.release is not None:
            w = self._windows[_PARENTS]
            after_delay = students.release + self._delay
            try:
                release, until = w.next_open_until(after_delay)
            except OutOfRangeError:
                return None
            reasons: tuple[Reason, ...] = (self._delay_reason,)
            if release > after_delay:
                reasons += w.reasons(after_delay, release)
            # provenance segments begin at local midnights: the day's start stands for the
            # creation instant (see CompiledWindows._stretch_outcome)
            provenance = w.provenance(students.day_start, release)
            found = Outcome(
                held=True,
                release_at=w.moment(release),
                open_until=w.moment(until),
                reasons=reasons,
                provenance=provenance,
                notes=w.notes(provenance),
                release=release,
                day_start=students.day_start,
            )
            self._parents_after[students] = found
        return found

    def _honours(self, fields: dict[str, Any]) -> bool:
        """Whether an urgent message (its fields) is released now (recommendation 1: heads of
        school, with a justification); never a grade (recommendation 11)."""
        policy = self.policy
        return (
            fields["kind"] is not _GRADE
            and fields["sender_role"] in policy.urgent_roles
            and bool(fields["justification"] or not policy.urgent_requires_justification)
        )

    def _decide(self, fields: dict[str, Any]) -> Decision:
        """`decide()` in full: urgency, publication dates, grades, other zones, DST days."""
        audience = fields["audience"]
        w = self._windows[audience]
        created_at = fields["created_at"]
        kind = fields["kind"]
        policy = self.policy
        # Urgency lifts quiet windows for the heads of school (recommendation 1); it never
        # shortens the parents' grade delay (recommendation 11): a grade is not an emergency.
        if fields["urgent"] and self._honours(fields):
            return self._urgent(fields, w)

        reasons: tuple[Reason, ...]
        until: float | None
        students_release: float | None = None
        publish_at = fields["publish_to_students_at"] if kind is _GRADE else None
        if kind is _GRADE and audience is _PARENTS:
            created = w.epoch(created_at)
            publish = created if publish_at is None else max(created, publish_at.timestamp())
            students = self._windows[_STUDENTS]
            students_release = (
                self._publication(students, publish) if self._slots else students.next_open(publish)
            )
            after_delay = students_release + self._delay
            release, until = w.next_open_until(after_delay)
            reasons = (self._delay_reason,)
            if release > after_delay:
                reasons += w.reasons(after_delay, release)
        elif publish_at is not None or (kind is _GRADE and self._slots and audience is _STUDENTS):
            created = w.epoch(created_at)
            start = created if publish_at is None else max(created, publish_at.timestamp())
            if kind is _GRADE and audience is _STUDENTS and self._slots:
                release = self._publication(w, start)
                reasons = self._publication_reasons(w, start, release)
                until = w.open_until(release)
            else:
                release, until = w.next_open_until(start)
                reasons = w.reasons(start, release) if release > start else ()
        else:  # the common case: released at the next opening at or after creation
            created, release, until, reasons = w.opening(created_at)
        held = release > created
        if fields["urgent"] and held:
            reasons += (_refusal(fields, policy),)
        provenance = w.provenance(created, release)
        if self._strict:
            self._guard(w, created, release, provenance)
        return build_decision(
            held,
            # A held message is released at a bound (an opening): one shared datetime per bound.
            w.moment(release) if held else created_at.astimezone(self.tz),
            created_at,
            audience,
            kind,
            reasons,
            provenance,
            None if students_release is None else datetime.fromtimestamp(students_release, self.tz),
            self._tz_name,
            w.notes(provenance),
            None if until is None else w.moment(until),
            self._identity,
            self._expires_at(kind, created) if self._expiry else None,
        )

    def decided_by_span(
        self, kind: Kind, audience: Audience
    ) -> tuple[CompiledWindows, bool] | None:
        """The windows whose `span` of a message's creation decides `decide()` for this kind
        and audience, when the message has no `publish_to_students_at`; None when the exact
        instant counts (grades to students under publication hours, an expiry for the kind).

        Then `decide()` of two such messages created in the same span, on the same local day
        and in the same year (of `created_at` as given: the French sentence names the year of
        a release in another one) differs only in `created_at` and, when not held, in
        `release_at`, which is `created_at` in the establishment's zone. The flag says whether
        an open span decides too: not for a grade to parents, released a delay after the
        students' release, which is the creation itself when the students' windows are open.
        The batch CLI answers by it (cli/lean.py); tests/test_cli_lean.py compares the bytes.
        """
        if kind in self._expiry:
            return None
        if kind is Kind.GRADE and audience is Audience.PARENTS:
            return self._windows[Audience.STUDENTS], False
        if kind is Kind.GRADE and audience is Audience.STUDENTS and self._slots:
            return None
        return self._windows[audience], True

    def decided_alike(
        self, kind: Kind, audience: Audience, span: int, day: int
    ) -> tuple[object, ...] | None:
        """What `decide()` of a plain message of this kind and audience (not urgent, no
        `publish_to_students_at`, not a grade to parents) created in the quiet span `span` of
        `decided_by_span`'s windows on local day `day` reads of its creation beyond the span:
        why it waits and the calendar's provenance (`CompiledWindows.held_alike`). Two such
        messages created in the same span and year with equal values get the same decision
        but `created_at`, whatever their local days: the batch CLI shares one answer among the
        days of a holiday, a weekend or a night (cli/lean.py). None otherwise."""
        if kind is _GRADE and audience not in self._plain_grades:
            return None
        found = self._windows[audience].held_alike(span, day)
        if found is None or (self._strict and found[1] is _UNKNOWN):
            return None
        return found

    def _urgent(self, fields: dict[str, Any], w: CompiledWindows) -> Decision:
        """An honoured urgency (`urgent_override`): released now, in the establishment's zone."""
        created_at = fields["created_at"]
        created = w.epoch(created_at)
        label = fields["justification"] or "urgence"
        role = fields["sender_role"].value
        w.check(created, "created_at")
        return Decision(
            held=False,
            release_at=created_at.astimezone(self.tz),
            created_at=created_at,
            audience=fields["audience"],
            kind=fields["kind"],
            reasons=(
                Reason(
                    ReasonCode.URGENT_OVERRIDE,
                    f"Urgence ({role}) : {label}",
                    f"Urgent ({role}): {label}",
                ),
            ),
            provenance=w.provenance(created, created),
            timezone=self._tz_name,
            policy=self._identity,
        )

    def _publication(self, w: CompiledWindows, t: float) -> float:
        """The first grade publication hour (`policy.grade_publication`) at or after `t`, open.

        Publication hours lie inside the students' open hours (the policy checks it), so every
        school day has one; each turn of the loop moves to the next school day, and past the
        compiled range `next_open` raises `OutOfRangeError`.
        """
        t = w.next_open(t)
        while True:
            day = datetime.fromtimestamp(t, self.tz).date()
            for slot in self._slots:
                at = datetime.combine(day, slot, self.tz).timestamp()
                if at >= t and w.is_open(at):
                    return at
            t = w.next_open(datetime.combine(day + timedelta(days=1), time(0), self.tz).timestamp())

    def _publication_reasons(
        self, w: CompiledWindows, start: float, release: float
    ) -> tuple[Reason, ...]:
        if release <= start:
            return ()
        until = w.open_until(start)
        # Quiet time in between (a night, a weekend) is a reason too; within one open stretch
        # (13:10 → 17:00) the publication hour is the only one.
        quiet = () if until is not None and until >= release else w.reasons(start, release)
        return (*quiet, _publication_reason(datetime.fromtimestamp(release, self.tz).time()))

    def _expires_at(self, kind: Kind, created: float) -> datetime | None:
        after = self._expiry.get(kind)
        return None if after is None else datetime.fromtimestamp(created + after, self.tz)

    def _guard(
        self, w: CompiledWindows, start: float, end: float, provenance: Provenance | None = None
    ) -> None:
        if self.policy.calendar_mode != "strict":
            return
        found = provenance or w.provenance(start, end)
        if found is _UNKNOWN:
            raise CalendarUnknownError(
                f"strict mode: no official school calendar for {self.establishment.key} "
                f"between {datetime.fromtimestamp(start, self.tz).date()} and "
                f"{datetime.fromtimestamp(end, self.tz).date()}; import a newer official "
                'calendar (deconnexion calendar import FILE.csv) or use calendar_mode = "estimate"'
            )


def _delay_reason(policy: Policy) -> Reason:
    hours = policy.grade_parent_delay.total_seconds() / 3600
    return Reason(
        ReasonCode.GRADE_PARENT_DELAY,
        f"Délai de {hours:g} h après les élèves",
        f"{hours:g} h delay after the students",
    )


@CACHES.memoize("calendar pieces")
def _publication_reason(at: time) -> Reason:
    hour = f"{at.hour} h" if at.minute == 0 else f"{at.hour} h {at.minute:02d}"
    return Reason(
        ReasonCode.GRADE_PUBLICATION,
        f"Publication des notes à {hour}",
        f"Grades published at {at.isoformat('minutes')}",
    )


def _refusal(fields: dict[str, Any], policy: Policy) -> Reason:
    """Why an urgent message (its fields) is not honoured."""
    role = fields["sender_role"]
    if fields["kind"] is _GRADE:
        return Reason(
            ReasonCode.URGENT_REFUSED,
            "Urgence non retenue : une note n'est pas une urgence (délai parents maintenu)",
            "Urgent flag not honoured: a grade is not an emergency (parents' delay kept)",
        )
    if role not in policy.urgent_roles:
        return Reason(
            ReasonCode.URGENT_REFUSED,
            f"Urgence non retenue : réservée au chef d'établissement ou au directeur d'école "
            f"(rôle {role.value})",
            f"Urgent flag not honoured: reserved to heads of school (role {role.value})",
        )
    return Reason(
        ReasonCode.URGENT_REFUSED,
        "Urgence non retenue : justification manquante",
        "Urgent flag not honoured: no justification given",
    )
