"""A seeded, realistic stream of ENT messages for one or many collèges.

What a collège's ENT sends over a few weeks, with the habits the rules are about: teachers
entering grades in the evening (each grade goes to the student and, 24 h later, to the
parents), homework posted on Sunday night, vie scolaire writing during the day, absences
reported in the morning, timetable changes the evening before, a few urgent messages from
the head (with a justification) and some "urgent" ones from teachers that the rule does not
honour, and grades corrected twice before they are released (one collapse key).

Same seed, same parameters → the same messages, to the second. Pure Python, about a second
per million messages.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import accumulate
from typing import NamedTuple

from deconnexion.core.message import Audience, Kind, Message, SenderRole
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import DEPARTEMENTS, Establishment, territory

__all__ = ["SimMessage", "TrafficConfig", "establishments_for", "generate", "message_like"]

CLASSES = tuple(f"{level}e {group}" for level in (6, 5, 4, 3) for group in "ABCD")
SUBJECTS = (
    "mathématiques", "français", "histoire-géographie", "anglais", "SVT",
    "physique-chimie", "espagnol", "technologie", "EPS", "arts plastiques",
)  # fmt: skip
STUDENTS_PER_CLASS = 26
CAPITALS = ("075", "069", "013", "033", "067", "974")  # one big city per zone/territory
UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # the UAI check letter: number mod 23


class SimMessage(NamedTuple):
    """One generated message. `created_at` is epoch seconds; `group` names the habit it
    comes from ("grade", "homework", "vie_scolaire", …) for the summary. A named tuple: a
    term of a hundred collèges is a million of them."""

    establishment: str  # Establishment.key
    created_at: float
    kind: Kind
    audience: Audience
    sender_role: SenderRole
    recipients: tuple[str, ...]
    idempotency_key: str
    group: str
    label: str
    urgent: bool = False
    justification: str | None = None
    collapse_key: str | None = None

    def to_message(self, tz: tzinfo, like: Message | None = None) -> Message:
        """The library's `Message`. Built with `model_construct`: the generator made valid,
        aware values, and validating a million of them again would only measure pydantic.
        `like`: a message with the same fields but `created_at` (`message_like(m)` of an
        earlier one), copied with this one's creation instead (`model_copy`, a third cheaper
        than `model_construct`: about 5 µs per decided message on the loaded machine)."""
        if like is not None:
            return like.model_copy(
                update={"created_at": datetime.fromtimestamp(self.created_at, tz)}
            )
        return Message.model_construct(
            kind=self.kind,
            audience=self.audience,
            created_at=datetime.fromtimestamp(self.created_at, tz),
            sender_role=self.sender_role,
            urgent=self.urgent,
            justification=self.justification,
            publish_to_students_at=None,
        )


def message_like(m: SimMessage) -> tuple[object, ...]:
    """What a `Message` built from `m` holds besides its creation instant: messages with the
    same key differ only by `created_at` (`SimMessage.to_message(tz, like=…)`)."""
    return (m.kind, m.audience, m.sender_role, m.urgent, m.justification)


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """What to generate. `uais` overrides the generated establishments (zone then unused)."""

    zone: str = "C"
    uais: tuple[str, ...] = ()
    start: date = date(2025, 10, 6)
    end: date = date(2025, 11, 16)  # inclusive
    establishments: int = 1
    messages: int = 6000
    seed: int = 2025
    # this run simulates only the establishments whose index i has i % shards == shard, with
    # the same traffic they have in the whole run (benchmarks split a run over processes)
    shard: int = 0
    shards: int = 1


# -- when each habit happens -------------------------------------------------------------------
# Day types: "school" (a school day), "saturday", "sunday" (the Sunday before a school day),
# "off" (holiday weekdays and weekends, public holidays). Each habit gives a weight per day type
# and its hours as (start, end, weight) in local time.

Segments = tuple[tuple[float, float, float], ...]

HABITS: dict[str, tuple[float, dict[str, float], Segments]] = {
    # share of messages, day weights, hours
    "grade": (
        0.30,
        {"school": 1.0, "saturday": 0.25, "sunday": 0.6, "off": 0.05},
        ((12.0, 17.0, 0.2), (17.0, 20.0, 0.3), (20.0, 23.5, 0.5)),
    ),
    "homework": (
        0.18,
        {"school": 1.0, "saturday": 0.3, "sunday": 3.0, "off": 0.08},
        ((10.0, 18.0, 0.25), (18.0, 20.0, 0.2), (20.0, 23.5, 0.55)),
    ),
    "vie_scolaire": (0.18, {"school": 1.0}, ((8.0, 12.0, 0.55), (13.0, 17.5, 0.45))),
    "absence": (0.15, {"school": 1.0}, ((8.0, 10.5, 0.8), (13.5, 15.0, 0.2))),
    "staff": (
        0.13,
        {"school": 1.0, "sunday": 0.6, "saturday": 0.2, "off": 0.1},
        ((7.5, 19.0, 0.6), (19.0, 22.5, 0.4)),
    ),
    "timetable": (0.06, {"school": 1.0, "sunday": 1.0}, ((6.5, 8.0, 0.35), (17.0, 21.5, 0.65))),
}

# Rare habits: (count per 1,000 messages, minimum per establishment)
URGENT_HEAD = (2.0, 1)  # the head, urgent, justified: honoured
URGENT_TEACHER = (5.0, 1)  # a teacher ticks "urgent": not honoured, held
URGENT_UNJUSTIFIED = (0.5, 0)  # the head, urgent, no justification: not honoured
CORRECTED_GRADES = (0.5, 1)  # a grade entered at 22:00 then corrected twice (×2 audiences)

HEAD_REASONS = (
    "Fermeture exceptionnelle demain : alerte météo",
    "Coupure d'eau : établissement fermé demain matin",
    "Sortie scolaire annulée demain (grève des transports)",
    "Alerte sanitaire : consignes pour demain",
)


def establishments_for(config: TrafficConfig) -> list[Establishment]:
    """The collèges to simulate (this shard's): `config.uais`, else `establishments` UAIs in
    `config.zone`."""
    if not 0 <= config.shard < config.shards:
        raise ValueError(f"shard {config.shard}: expected 0 ≤ shard < shards ({config.shards})")
    return _all_establishments(config)[config.shard :: config.shards]


def _all_establishments(config: TrafficConfig) -> list[Establishment]:
    if config.uais:
        return [
            Establishment(uai=u, level="college", name=f"Collège {u.upper()}") for u in config.uais
        ]
    place = territory(config.zone)
    departements = sorted(
        (c for c in DEPARTEMENTS if c.isdigit() and _same_territory(c, place.key)),
        key=lambda c: (c not in CAPITALS, c),  # Paris first in zone C, and so on
    )
    rng = random.Random(config.seed)
    out: list[Establishment] = []
    for i in range(config.establishments):
        if departements:
            dep = departements[i % len(departements)]
            number = int(dep) * 10_000 + rng.randrange(10_000)
            uai = f"{number:07d}{UAI_LETTERS[number % 23]}"
            out.append(Establishment(uai=uai, level="college", name=f"Collège simulé {uai}"))
        else:  # a territory without numbered départements: identify by id
            out.append(
                Establishment(
                    zone=config.zone, id=f"college-{i + 1:03d}", level="college",
                    name=f"Collège n° {i + 1}",
                )
            )  # fmt: skip
    return out


def _same_territory(code: str, key: str) -> bool:
    try:
        return Establishment(departement=code).location.territory.key == key
    except ValueError:
        return False


def day_types(scheduler: Scheduler, start: date, end: date) -> list[tuple[date, str]]:
    """Each day of [start, end] with its type, read from the establishment's calendar."""
    tz = scheduler.tz
    out: list[tuple[date, str]] = []
    day = start
    while day <= end:
        nxt = day + timedelta(days=1)
        if not scheduler.is_quiet(datetime.combine(day, time(12), tz)):
            kind = "school"
        elif day.weekday() == 5 and not scheduler.is_quiet(
            datetime.combine(day + timedelta(days=2), time(12), tz)
        ):
            kind = "saturday"
        elif not scheduler.is_quiet(datetime.combine(nxt, time(12), tz)):
            kind = "sunday"  # the evening before school: homework time
        else:
            kind = "off"
        out.append((day, kind))
        day = nxt
    return out


class _Sampler:
    """Draws instants (epoch seconds) for one habit: a day by weight, then hours by weight."""

    def __init__(self, days: list[tuple[date, str]], habit: str, tz: object) -> None:
        _, weights, segments = HABITS.get(habit, (0.0, {"school": 1.0}, ()))
        self.spans: list[tuple[float, float]] = []
        w: list[float] = []
        for day, kind in days:
            dw = weights.get(kind, 0.0)
            for a, b, sw in segments:
                if dw * sw <= 0:
                    continue
                self.spans.append((_at(day, a, tz), _at(day, b, tz)))
                w.append(dw * sw)
        self.cumulative = list(accumulate(w))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def draw(self, rng: random.Random) -> float:
        cumulative = self.cumulative
        i = bisect_right(cumulative, rng.random() * cumulative[-1])
        a, b = self.spans[i if i < len(cumulative) else -1]
        return float(int(a + (b - a) * rng.random()))


def _at(day: date, hour: float, tz: object) -> float:
    h, m = int(hour), round((hour - int(hour)) * 60)
    if h >= 24:
        return datetime.combine(day + timedelta(days=1), time(0), tz).timestamp()  # type: ignore[arg-type]
    return datetime.combine(day, time(h, m), tz).timestamp()  # type: ignore[arg-type]


def _quiet_sampler(days: list[tuple[date, str]], tz: object) -> _Sampler:
    """Evenings of school days and weekend afternoons: when an urgent message would matter."""
    s = _Sampler([], "none", tz)
    weights: list[float] = []
    for day, kind in days:
        if kind == "school":
            s.spans.append((_at(day, 20.5, tz), _at(day, 22.5, tz)))
            weights.append(1.0)
        elif kind in ("saturday", "sunday"):
            s.spans.append((_at(day, 10.0, tz), _at(day, 21.0, tz)))
            weights.append(1.5)
    s.cumulative = list(accumulate(weights))
    return s


def _rare(count: tuple[float, int], n: int) -> int:
    per_thousand, minimum = count
    return max(minimum, round(n * per_thousand / 1000)) if n >= 50 else 0


def _establishment_traffic(
    est: Establishment, scheduler: Scheduler, config: TrafficConfig, n: int, rng: random.Random
) -> list[SimMessage]:
    key = est.key
    tz = scheduler.tz
    days = day_types(scheduler, config.start, config.end)
    samplers = {h: _Sampler(days, h, tz) for h in HABITS}
    quiet = _quiet_sampler(days, tz)
    out: list[SimMessage] = []
    counter = 0

    def add(
        created: float,
        kind: Kind,
        audience: Audience,
        role: SenderRole,
        recipients: tuple[str, ...],
        group: str,
        label: str,
        **extra: object,
    ) -> None:
        nonlocal counter
        counter += 1
        out.append(
            SimMessage(key, created, kind, audience, role, recipients,
                       f"{key}:{counter}", group, label, **extra)  # type: ignore[arg-type]
        )  # fmt: skip

    def student() -> tuple[str, int]:
        c, s = divmod(int(rng.random() * len(CLASSES) * STUDENTS_PER_CLASS), STUDENTS_PER_CLASS)
        return CLASSES[c], s

    # the rare, scripted habits first, so small runs still show each of them
    if quiet:
        for _ in range(_rare(URGENT_HEAD, n)):
            add(quiet.draw(rng), Kind.ANNOUNCEMENT, Audience.PARENTS,
                SenderRole.CHEF_ETABLISSEMENT, (f"parents:{key}",), "urgent_head",
                "Message urgent du chef d'établissement", urgent=True,
                justification=rng.choice(HEAD_REASONS))  # fmt: skip
        for _ in range(_rare(URGENT_TEACHER, n)):
            cls, _s = student()
            add(quiet.draw(rng), Kind.MESSAGE, Audience.PARENTS, SenderRole.TEACHER,
                (f"parents:{key}:{cls}",), "urgent_teacher",
                f"« Urgent » d'un professeur aux parents de {cls}", urgent=True,
                justification="Contrôle reporté")  # fmt: skip
        for _ in range(_rare(URGENT_UNJUSTIFIED, n)):
            add(quiet.draw(rng), Kind.ANNOUNCEMENT, Audience.PARENTS,
                SenderRole.CHEF_ETABLISSEMENT, (f"parents:{key}",), "urgent_unjustified",
                "Message « urgent » du chef d'établissement sans justification",
                urgent=True)  # fmt: skip
    evenings = [d for d, kind in days if kind == "school"]
    for g in range(_rare(CORRECTED_GRADES, n) if evenings else 0):
        day = rng.choice(evenings)
        cls, s = student()
        subject = SUBJECTS[int(rng.random() * len(SUBJECTS))]
        first = _at(day, 21.75, tz) + rng.randrange(600)
        for step, minutes in enumerate((0, 12, 31)):
            label = f"Note de {subject} ({cls})" + (" corrigée" if step else "")
            for audience in (Audience.STUDENTS, Audience.PARENTS):
                who = "eleve" if audience is Audience.STUDENTS else "parents"
                add(first + 60 * minutes, Kind.GRADE, audience, SenderRole.TEACHER,
                    (f"{who}:{key}:{cls}:{s}",), "grade_corrected", label,
                    collapse_key=f"note:{key}:corr{g}:{cls}:{s}:{audience.value}")  # fmt: skip

    # the everyday habits, the hot loop of a big run: labels and recipients are looked up in
    # tables built once per establishment, and each message is one tuple
    habits = list(HABITS)
    drawn = rng.choices(
        range(len(habits)), cum_weights=list(accumulate(HABITS[h][0] for h in habits)), k=n
    )
    draws = [samplers[h] or samplers["vie_scolaire"] or quiet for h in habits]
    if not any(draws):
        return out  # no day at all in the period
    t = _Tables(key)
    grade, homework, vie, absence, staff = (habits.index(h) for h in
        ("grade", "homework", "vie_scolaire", "absence", "staff"))  # fmt: skip
    k_pupils = len(CLASSES) * STUDENTS_PER_CLASS
    n_subjects = len(SUBJECTS)
    rand = rng.random
    append = out.append
    for h in drawn:
        if len(out) >= n:
            break
        if h == grade and len(out) + 2 > n:
            h = vie
        created = draws[h].draw(rng)
        pupil = int(rand() * k_pupils)
        c = pupil // STUDENTS_PER_CLASS
        counter += 1
        ident = f"{key}:{counter}"
        if h == grade:
            label = t.grade[int(rand() * n_subjects)][c]
            base = f"note:{key}:{counter}:{CLASSES[c]}:{pupil % STUDENTS_PER_CLASS}"
            append(SimMessage(key, created, Kind.GRADE, Audience.STUDENTS, SenderRole.TEACHER,
                              t.pupil[pupil], ident, "grade", label,
                              collapse_key=base + ":students"))  # fmt: skip
            counter += 1
            append(SimMessage(key, created, Kind.GRADE, Audience.PARENTS, SenderRole.TEACHER,
                              t.parents[pupil], f"{key}:{counter}", "grade", label,
                              collapse_key=base + ":parents"))  # fmt: skip
        elif h == homework:
            append(SimMessage(key, created, Kind.HOMEWORK, Audience.STUDENTS,
                              SenderRole.TEACHER, t.klass[c], ident, "homework",
                              t.homework[int(rand() * n_subjects)][c]))  # fmt: skip
        elif h == vie:
            to_parents = rand() < 0.6
            append(SimMessage(key, created, Kind.MESSAGE,
                              Audience.PARENTS if to_parents else Audience.STUDENTS,
                              SenderRole.CPE if rand() < 0.3 else SenderRole.VIE_SCOLAIRE,
                              (t.parents if to_parents else t.pupil)[pupil], ident,
                              "vie_scolaire", t.vie[c]))  # fmt: skip
        elif h == absence:
            append(SimMessage(key, created, Kind.ABSENCE, Audience.PARENTS,
                              SenderRole.VIE_SCOLAIRE, t.parents[pupil], ident, "absence",
                              t.absence[c]))  # fmt: skip
        elif h == staff:
            append(SimMessage(key, created, Kind.ANNOUNCEMENT, Audience.STAFF,
                              SenderRole.ADJOINT if rand() < 0.5
                              else SenderRole.CHEF_ETABLISSEMENT,
                              t.staff, ident, "staff", "Information aux personnels"))  # fmt: skip
        else:
            append(SimMessage(key, created, Kind.TIMETABLE, Audience.STUDENTS,
                              SenderRole.ADJOINT, t.klass[c], ident, "timetable",
                              t.timetable[c]))  # fmt: skip
    return out


class _Tables:
    """Recipients and labels of one establishment, built once (shared by its messages)."""

    def __init__(self, key: str) -> None:
        pupils = [(c, s) for c in CLASSES for s in range(STUDENTS_PER_CLASS)]
        self.pupil = [(f"eleve:{key}:{c}:{s}",) for c, s in pupils]
        self.parents = [(f"parents:{key}:{c}:{s}",) for c, s in pupils]
        self.klass = [(f"classe:{key}:{c}",) for c in CLASSES]
        self.staff = (f"personnels:{key}",)
        self.grade = [[f"Note de {subject} ({c})" for c in CLASSES] for subject in SUBJECTS]
        self.homework = [[f"Devoir de {subject} ({c})" for c in CLASSES] for subject in SUBJECTS]
        self.vie = [f"Message de la vie scolaire ({c})" for c in CLASSES]
        self.absence = [f"Absence signalée ({c})" for c in CLASSES]
        self.timetable = [f"Changement d'emploi du temps ({c})" for c in CLASSES]


def generate(config: TrafficConfig, schedulers: dict[str, Scheduler]) -> list[SimMessage]:
    """Every message of the period, sorted by creation (ties by establishment, then
    generation order). `schedulers` maps `Establishment.key` to its scheduler, for the
    establishments of `establishments_for(config)` (this shard's, in that order)."""
    if config.end < config.start:
        raise ValueError(f"end {config.end} is before start {config.start}")
    total = config.establishments if not config.uais else len(config.uais)
    per, extra = divmod(config.messages, max(1, total))
    stream: list[SimMessage] = []
    for i, key in enumerate(schedulers):
        index = config.shard + i * config.shards  # the establishment's index in the whole run
        n = per + (1 if index < extra else 0)
        # seeded per establishment: adding one (or sharding) does not change the others
        rng = random.Random(config.seed * 1_000_003 + index)
        sched = schedulers[key]
        stream.extend(_establishment_traffic(sched.establishment, sched, config, n, rng))
    stream.sort(key=_created)  # stable: ties keep establishment, then generation order
    return stream


def _created(m: SimMessage) -> float:
    return m.created_at
