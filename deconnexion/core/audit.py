"""Conformance audit: a policy checked against the national rules, one requirement at a time.

`audit_policy` takes a `Policy` or the raw mapping read from a policy file. A raw file need not
be a valid policy: a value the policy format refuses (hours 21:00–06:00, an unknown role) fails
the requirement it belongs to, naming the field. A looser value declared as a `Deviation` is
reported as "deviation", never as a silent pass. Only "pass" everywhere makes a conformant
policy (exit code 0 of `deconnexion audit`, in `deconnexion.cli.audit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from deconnexion.core.codes import Audience
from deconnexion.core.policy import NATIONAL_SOURCES, Deviation, Policy
from deconnexion.errors import PolicyError

__all__ = ["AuditReport", "Requirement", "audit_policy"]

Status = Literal["pass", "fail", "deviation"]


@dataclass(frozen=True, slots=True)
class _Spec:
    id: str
    title: str
    title_fr: str
    fields: tuple[str, ...]  # policy fields this requirement reads
    sources: tuple[str, ...]  # keys of NATIONAL_SOURCES
    ok: str  # reason when the policy complies


# The national requirements, in the order of docs/RULES.md (§1 quiet windows, §2 urgency,
# §3 grades, §1 access). `fields` decides which invalid or loose value fails which requirement.
REQUIREMENTS: tuple[_Spec, ...] = (
    _Spec(
        "weekday_nights",
        "No diffusion on weekday nights (20:00–07:00)",
        "Pas de diffusion en soirée et la nuit (20 h – 7 h)",
        ("open_hours", "audiences"),
        ("open_hours",),
        "open hours {hours} lie within 07:00–20:00",
    ),
    _Spec(
        "weekend",
        "No diffusion at weekends (Friday 20:00 – Monday 07:00)",
        "Pas de diffusion le week-end (vendredi 20 h – lundi 7 h)",
        ("weekend_days",),
        ("weekend_days",),
        "weekend days {weekend} are quiet",
    ),
    _Spec(
        "school_holidays",
        "No diffusion during school holidays",
        "Pas de diffusion pendant les vacances scolaires",
        ("school_holidays",),
        ("school_holidays",),
        "school holidays (official calendar) are quiet",
    ),
    _Spec(
        "public_holidays",
        "No diffusion on public holidays",
        "Pas de diffusion les jours fériés",
        ("public_holidays",),
        ("public_holidays",),
        "public holidays (jours fériés) are quiet",
    ),
    _Spec(
        "urgency",
        "Urgent diffusion only by the head of school, with a justification",
        "Urgence réservée au directeur d'école ou au chef d'établissement, justifiée",
        ("urgent_roles", "urgent_requires_justification"),
        ("urgent_roles", "urgent_requires_justification"),
        "urgent overrides limited to {roles}, justification required",
    ),
    _Spec(
        "grade_students",
        "Grades reach students at a reasonable hour",
        "Notes visibles des élèves à une heure raisonnable",
        ("grade_publication",),
        ("grade_students",),
        "{publication}",
    ),
    _Spec(
        "grade_parent_delay",
        "Grades reach parents 24 h after students",
        "Notes aux parents 24 h après les élèves",
        ("grade_parent_delay",),
        ("grade_parent_delay",),
        "parents get grades {delay} after the students",
    ),
    _Spec(
        "access",
        "Reading and data entry are never blocked",
        "Consultation et saisie jamais bloquées",
        (),
        ("access",),
        "",
    ),
)

# Policy fields that belong to no national requirement; an invalid one fails "policy_file".
_OTHER_FIELDS = ("name", "closures", "calendar_mode", "deviations")
_READ_METHODS = frozenset({"GET", "HEAD"})
_ENTRY_METHODS = frozenset({"PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Requirement:
    """The verdict on one requirement."""

    id: str
    title: str
    title_fr: str
    status: Status
    reason: str
    source: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "title_fr": self.title_fr,
            "status": self.status,
            "reason": self.reason,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Every requirement's verdict, the declared deviations, and where the policy came from."""

    policy_name: str
    requirements: tuple[Requirement, ...]
    deviations: tuple[dict[str, Any], ...] = field(default=())
    origin: str = "policy"

    @property
    def conformant(self) -> bool:
        return all(r.passed for r in self.requirements)

    @property
    def failures(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if r.status == "fail")

    def get(self, requirement_id: str) -> Requirement:
        for r in self.requirements:
            if r.id == requirement_id:
                return r
        known = ", ".join(r.id for r in self.requirements)
        raise KeyError(f"no requirement {requirement_id!r}; expected one of {known}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_name,
            "origin": self.origin,
            "conformant": self.conformant,
            "counts": {
                s: sum(r.status == s for r in self.requirements)
                for s in ("pass", "fail", "deviation")
            },
            "requirements": [r.to_dict() for r in self.requirements],
            "deviations": list(self.deviations),
        }

    def to_text(self) -> str:
        marks = {"pass": "PASS", "fail": "FAIL", "deviation": "DEVIATION"}
        lines = [f"Conformance audit of {self.origin} (policy {self.policy_name!r})", ""]
        for r in self.requirements:
            lines.append(f"[{marks[r.status]}] {r.id}: {r.title}")
            lines.append(f"    {r.reason}")
            lines.append(f"    source: {r.source}")
        if self.deviations:
            lines.append("")
            lines.append("Declared deviations:")
            for d in self.deviations:
                by = f" (approved by {d['approved_by']})" if d.get("approved_by") else ""
                used = "" if d["applies"] else " — not needed: the policy is not looser there"
                lines.append(f"  - {d['field']}: {d['justification']}{by}{used}")
        counts = self.to_dict()["counts"]
        lines.append("")
        verdict = "CONFORMANT" if self.conformant else "NOT CONFORMANT"
        lines.append(
            f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['deviation']} declared deviation(s)"
        )
        return "\n".join(lines)


def audit_policy(
    policy: Policy | Mapping[str, Any],
    routes: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    origin: str = "policy",
) -> AuditReport:
    """Check `policy` (a Policy or a raw mapping) against each national requirement.

    `routes` is an optional routes mapping (``{"routes": [...]}``) or list of route tables; a
    rule gating reads (GET) or data entry (PUT, PATCH) fails "access". A raw mapping may carry
    its own top-level ``routes`` list, audited the same way.
    """
    invalid: dict[str, list[str]] = {}
    bad_deviations: list[str] = []
    if isinstance(policy, Policy):
        checked = policy
    elif isinstance(policy, Mapping):
        data = dict(policy)
        if routes is None and "routes" in data:
            routes = data.pop("routes")
        else:
            data.pop("routes", None)
        checked = _validate_loose(data, invalid, bad_deviations)
    else:
        raise PolicyError(
            f"audit: expected a Policy or a mapping read from a policy file, "
            f"got {type(policy).__name__}"
        )

    loose: dict[str, list[str]] = {}
    for name, why in checked.loosenings():
        loose.setdefault(name, []).append(why)
    declared: dict[str, Deviation] = {d.field: d for d in checked.deviations}

    verdicts = [_verdict(spec, checked, invalid, loose, declared, routes) for spec in REQUIREMENTS]
    others = [f"{name}: {why}" for name in _other_invalid(invalid) for why in invalid[name]]
    others += bad_deviations
    if others:
        verdicts.append(
            Requirement(
                "policy_file",
                "The policy file is valid",
                "Fichier de politique valide",
                "fail",
                "; ".join(others),
                "deconnexion policy format (see Policy in deconnexion/policy.py)",
            )
        )
    deviations = tuple(
        {
            "field": d.field,
            "justification": d.justification,
            "approved_by": d.approved_by,
            "applies": d.field in loose,
        }
        for d in checked.deviations
    )
    return AuditReport(checked.name, tuple(verdicts), deviations, origin)


def _validate_loose(
    data: dict[str, Any], invalid: dict[str, list[str]], bad_deviations: list[str]
) -> Policy:
    """The valid part of `data` as a Policy; each refused field is recorded in `invalid`."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key == "deviations":
            kept[key] = _valid_deviations(value, bad_deviations)
            continue
        problems = _problems({**_context(key, data), key: value})
        if problems:
            invalid.setdefault(key, []).extend(problems)
        else:
            kept[key] = value
    try:
        return Policy.from_mapping(kept, allow_loose=True)
    except PolicyError as exc:  # fields valid one by one but not together: report, audit defaults
        invalid.setdefault("name", []).append(str(exc))
        return Policy.from_mapping({}, allow_loose=True)


def _context(key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Valid fields a field is checked against: publication hours against the open hours."""
    if key != "grade_publication":
        return {}
    return {
        k: data[k] for k in ("open_hours", "audiences") if k in data and not _problems({k: data[k]})
    }


def _problems(data: dict[str, Any]) -> list[str]:
    try:
        Policy.model_validate(data, context={"allow_loose": True})
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            if err["type"] == "extra_forbidden":
                accepted = ", ".join(Policy.model_fields)
                out.append(f"unknown field (got {err['input']!r}); accepted fields: {accepted}")
                continue
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # a check across fields; its message names the value
                out.append(msg)
                continue
            loc = ".".join(str(x) for x in err["loc"][1:])
            out.append(f"{loc + ': ' if loc else ''}{msg} (got {_shown(err.get('input'))})")
        return out
    return []


def _valid_deviations(value: Any, bad: list[str]) -> list[Any]:
    if not isinstance(value, list | tuple):
        bad.append(f"deviations: expected a list of tables, got {value!r}")
        return []
    kept = []
    for i, item in enumerate(value):
        try:
            kept.append(Deviation.model_validate(item))
        except ValidationError as exc:
            why = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'entry'}: "
                f"{e['msg'].removeprefix('Value error, ')} (got {e.get('input')!r})"
                for e in exc.errors()
            )
            bad.append(f"deviations #{i + 1} ignored: {why}")
    return kept


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_shown(v)}" for k, v in value.items()) + "}"
    return repr(str(value)) if not isinstance(value, str | int | float | bool) else repr(value)


def _other_invalid(invalid: dict[str, list[str]]) -> list[str]:
    owned = {f for spec in REQUIREMENTS for f in spec.fields}
    return [name for name in invalid if name not in owned]


def _verdict(
    spec: _Spec,
    policy: Policy,
    invalid: dict[str, list[str]],
    loose: dict[str, list[str]],
    declared: dict[str, Deviation],
    routes: Any,
) -> Requirement:
    source = "; ".join(NATIONAL_SOURCES[s] for s in spec.sources)

    def made(status: Status, reason: str) -> Requirement:
        return Requirement(spec.id, spec.title, spec.title_fr, status, reason, source)

    if spec.id == "access":
        status, reason = _access(routes)
        return made(status, reason)
    failures = [f"{name}: {why}" for name in spec.fields for why in invalid.get(name, [])]
    failures += [
        why for name in _loosened(spec) for why in loose.get(name, []) if name not in declared
    ]
    if failures:
        return made("fail", "; ".join(failures) + _national_hint(spec))
    deviated = [
        f"{why} — declared deviation: {declared[name].justification}"
        + (f" (approved by {declared[name].approved_by})" if declared[name].approved_by else "")
        for name in _loosened(spec)
        for why in loose.get(name, [])
    ]
    if deviated:
        return made("deviation", "; ".join(deviated))
    return made("pass", _ok_reason(spec, policy))


def _loosened(spec: _Spec) -> tuple[str, ...]:
    """Loosening names (`Policy.loosenings`) that fall under this requirement."""
    return tuple(f for f in spec.fields if f != "audiences")


def _national_hint(spec: _Spec) -> str:
    hints = {
        "weekday_nights": " — expected open hours within 07:00–20:00 (start before end)",
        "weekend": " — expected Saturday and Sunday among weekend_days",
        "school_holidays": " — expected school_holidays = true",
        "public_holidays": " — expected public_holidays = true",
        "urgency": " — expected urgent_roles among directeur_ecole, chef_etablissement and "
        "urgent_requires_justification = true",
        "grade_parent_delay": " — expected grade_parent_delay of at least 24 h",
        "grade_students": ' — expected times HH:MM inside open hours, e.g. ["12:00", "17:00"]',
    }
    return hints.get(spec.id, "")


def _ok_reason(spec: _Spec, policy: Policy) -> str:
    from deconnexion.core.policy import WEEKDAYS

    hours = [policy.open_hours.label()] + [
        f"{a.value} {r.open_hours.label()}" for a, r in policy.audiences.items() if r.open_hours
    ]
    return spec.ok.format(
        hours=", ".join(hours),
        weekend=", ".join(WEEKDAYS[d] for d in sorted(policy.weekend_days)),
        roles=", ".join(sorted(r.value for r in policy.urgent_roles)) or "nobody",
        delay=f"{policy.grade_parent_delay.total_seconds() / 3600:g} h",
        publication=_publication_reason(policy),
    )


def _publication_reason(policy: Policy) -> str:
    students = policy.hours_for(Audience.STUDENTS).label()
    if not policy.grade_publication:
        return f"students see a new grade at the next open moment ({students} on school days)"
    hours = ", ".join(t.isoformat("minutes") for t in policy.grade_publication)
    return (
        f"students see new grades at the publication hours {hours}, inside their open hours "
        f"{students}; parents {policy.grade_parent_delay.total_seconds() / 3600:g} h after"
    )


def _access(routes: Any) -> tuple[Status, str]:
    if routes is None:
        return (
            "pass",
            "a policy only gates diffusion (notifications, feeds, visibility of new items); "
            "reading and data entry stay open (no routes file given to check)",
        )
    rules = routes.get("routes") if isinstance(routes, Mapping) else routes
    if not isinstance(rules, list | tuple):
        return "fail", f"routes: expected a list of route tables, got {rules!r}"
    blocked = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            return "fail", f"routes #{i + 1}: expected a table, got {rule!r}"
        methods = rule.get("methods", rule.get("method", "POST"))
        if isinstance(methods, str):
            methods = [methods]
        names = {str(m).strip().upper() for m in methods}
        path = rule.get("path", "?")
        for m in sorted(names & _READ_METHODS):
            blocked.append(f"routes #{i + 1} gates {m} {path} (reading, consultation)")
        for m in sorted(names & _ENTRY_METHODS):
            blocked.append(f"routes #{i + 1} gates {m} {path} (data entry, saisie)")
    if blocked:
        return "fail", "; ".join(blocked) + " — only diffusion may be gated"
    return "pass", f"{len(rules)} gated route(s), none on reading (GET) or data entry (PUT, PATCH)"
