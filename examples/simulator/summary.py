"""What a simulation shows, as numbers: held share and reasons, delays, grades to parents,
urgent overrides, collapsed messages, release peaks, and the checks (nothing released in a
quiet window, every held message released exactly once, counts equal to the store's).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from deconnexion.core.message import Audience
from deconnexion.core.windows import CompiledWindows

from .run import SimulationRun

__all__ = [
    "AUDIENCE_FR",
    "GROUP_FR",
    "REASON_FR",
    "delivered_times",
    "per_minute",
    "summarize",
    "to_text",
]

REASON_FR = {
    "night": "nuit (20 h – 7 h)",
    "weekend": "week-end",
    "school_holiday": "vacances scolaires",
    "public_holiday": "jour férié",
    "closure": "fermeture de l'établissement",
    "grade_parent_delay": "délai de 24 h des notes aux parents",
    "urgent_refused": "urgence non retenue",
    "urgent_override": "urgence du chef d'établissement",
}
AUDIENCE_FR = {"students": "élèves", "parents": "parents", "staff": "personnels"}
GROUP_FR = {
    "grade": "notes",
    "grade_corrected": "notes corrigées avant diffusion",
    "homework": "devoirs",
    "vie_scolaire": "vie scolaire",
    "absence": "absences",
    "staff": "informations aux personnels",
    "timetable": "changements d'emploi du temps",
    "urgent_head": "urgences du chef d'établissement",
    "urgent_teacher": "« urgences » de professeurs",
    "urgent_unjustified": "urgences sans justification",
}


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in [0, 100])."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def _local(run: SimulationRun, t: float) -> str:
    tz = next(iter(run.schedulers.values())).tz
    return datetime.fromtimestamp(t, tz).isoformat(timespec="minutes")


def delivered_times(run: SimulationRun) -> tuple[list[float | None], list[int]]:
    """When each message reached its recipients (None: never) and how many times the worker
    delivered it. Open messages and honoured urgencies go out at creation."""
    first, _last, count = run.worker_deliveries
    at = [t if h else m.created_at for m, h, t in zip(run.messages, run.held, first, strict=True)]
    return at, count


def per_minute(run: SimulationRun) -> tuple[Counter[int], Counter[int]]:
    """Sends per minute (epoch // 60): without smoothing (each held, not replaced message at
    its decided release) and as the worker delivered them (one per deliverer call)."""
    held, releases, sid, replaced = run.held, run.releases, run.store_ids, run.replaced_ids
    without: Counter[int] = Counter(
        int(releases[i] // 60) for i in range(len(held)) if held[i] and sid[i] not in replaced
    )
    delivered: Counter[int] = Counter(int(when // 60) for when, _ids, _d in run.deliveries)
    return without, delivered


def summarize(run: SimulationRun) -> dict[str, Any]:
    """The summary as a JSON-ready dict (keys in English, labels in French)."""
    messages, held, releases = run.messages, run.held, run.releases
    at, count = delivered_times(run)
    n = len(messages)
    replaced = run.replaced_ids
    sid = run.store_ids
    is_replaced = [h and x in replaced for h, x in zip(held, sid, strict=True)]

    # one pass over the messages (a term of a hundred collèges is a million of them)
    totals: Counter[str] = Counter()
    held_groups: Counter[str] = Counter()
    reason_sets: Counter[tuple[str, ...]] = Counter()
    per_audience: dict[Audience, list[float]] = {a: [] for a in Audience}
    without: Counter[int] = Counter()
    honoured = 0
    refused_by: Counter[str] = Counter()
    expected = never = twice = once_count = replaced_delivered = 0
    for i, m in enumerate(messages):
        totals[m.group] += 1
        if not held[i]:
            honoured += m.urgent
            continue
        held_groups[m.group] += 1
        reason_sets[run.reasons[i]] += 1
        if m.urgent:
            refused_by[m.group] += 1
        c = count[i]
        if is_replaced[i]:
            replaced_delivered += c > 0
            continue
        expected += 1
        never += c == 0
        twice += c > 1
        once_count += c == 1
        without[int(releases[i] // 60)] += 1
        when = at[i]
        if when is not None:
            per_audience[m.audience].append((when - m.created_at) / 3600)
    by_group = {g: {"total": t, "held": held_groups[g]} for g, t in totals.items()}
    reasons: Counter[str] = Counter()
    for codes, times in reason_sets.items():
        for code in codes:
            reasons[code] += times
    n_held = sum(held_groups.values())
    delays: dict[str, dict[str, float | int]] = {}
    for audience, values in per_audience.items():
        values.sort()
        delays[audience.value] = {
            "count": len(values),
            "median_hours": round(_percentile(values, 50), 2),
            "p95_hours": round(_percentile(values, 95), 2),
            "max_hours": round(values[-1], 2) if values else 0.0,
        }
    grades = _grades(run, at, is_replaced)
    with_: Counter[int] = Counter(int(when // 60) for when, _ids, _d in run.deliveries)
    peak_without = max(without.items(), key=lambda kv: (kv[1], -kv[0]), default=(0, 0))
    peak_with = max(with_.items(), key=lambda kv: (kv[1], -kv[0]), default=(0, 0))

    quiet = _quiet_check(run)
    once = {
        "held_not_replaced": expected,
        "delivered_once": once_count,
        "never": never,
        "more_than_once": twice,
        "replaced_but_delivered": replaced_delivered,
        "ok": never == 0 and twice == 0 and replaced_delivered == 0,
    }
    store = _store_check(run, n_held, expected, len(replaced), honoured, sum(refused_by.values()))
    smoothing = {
        "spread_minutes": (run.options.spread_seconds or 0) / 60 or None,
        "max_rate": run.options.max_rate,
        "digest": run.options.digest,
    }
    return {
        "period": {
            "start": run.config.start.isoformat(),
            "end": run.config.end.isoformat(),
            "timezone": str(next(iter(run.schedulers.values())).tz),
            "simulated_until": _local(run, run.clock_end),
        },
        "establishments": [e.key for e in run.establishments],
        "policy": run.policy.name,
        "store": run.options.store_url,
        "seed": run.config.seed,
        "smoothing": smoothing,
        "resolution_seconds": run.options.resolution,
        "messages": {
            "total": n,
            "held": n_held,
            "held_share": round(n_held / n, 4) if n else 0.0,
            "sent_at_once": n - n_held,
            "by_group": by_group,
        },
        "held_by_reason": dict(reasons.most_common()),
        "delays": delays,
        "grades_to_parents": grades,
        "urgent": {
            "honoured": honoured,
            "refused": sum(refused_by.values()),
            "refused_by_group": dict(refused_by),
        },
        "replaced": len(replaced),
        "peak_minute": {
            "without_smoothing": {
                "count": peak_without[1],
                "at": _local(run, peak_without[0] * 60) if peak_without[1] else None,
            },
            "with_smoothing": {
                "count": peak_with[1],
                "at": _local(run, peak_with[0] * 60) if peak_with[1] else None,
            },
        },
        "quiet_window_check": quiet,
        "exactly_once": once,
        "store_check": store,
        "worker": {k: v for k, v in run.worker_counters.items() if k != "last_batch_at"},
        "wall_seconds": {k: round(v, 2) for k, v in run.wall_seconds.items()},
        "ok": quiet["ok"] and once["ok"] and store["ok"] and grades["ok"],
    }


def _grades(run: SimulationRun, at: list[float | None], is_replaced: list[bool]) -> dict[str, Any]:
    """Each surviving grade's parents copy against its students copy, as delivered: the
    parents' first delivery against the students' last one (a re-delivery counts)."""
    students: dict[str, int] = {}
    parents: dict[str, int] = {}
    for i, m in enumerate(run.messages):
        if m.collapse_key is None or is_replaced[i]:
            continue
        base = m.collapse_key.rsplit(":", 1)[0]
        (parents if m.audience is Audience.PARENTS else students)[base] = i
    last = _last_delivery(run, at)
    need = run.policy.grade_parent_delay.total_seconds()
    gaps: list[float] = []
    planned = 0
    examples: list[str] = []
    for base, p in parents.items():
        s = students.get(base)
        if s is None or last[s] is None or at[p] is None:
            continue
        gap = at[p] - last[s]  # type: ignore[operator]
        gaps.append(gap)
        planned += run.releases[p] >= run.releases[s] + need - 1e-6
        if gap < need - 1e-6 and len(examples) < 5:
            examples.append(
                f"{run.messages[p].label} : élèves {_local(run, last[s])}, "  # type: ignore[arg-type]
                f"parents {_local(run, at[p])} ({_gap(gap)})"  # type: ignore[arg-type]
            )
    gaps.sort()
    compliant = sum(1 for g in gaps if g >= need - 1e-6)
    return {
        "pairs": len(gaps),
        "required_hours": need / 3600,
        # as delivered: parents' delivery ≥ students' actual (last) delivery + delay
        "compliant": compliant,
        "share": round(compliant / len(gaps), 4) if gaps else 1.0,
        "short": len(gaps) - compliant,
        "short_examples": examples,
        "min_gap_hours": round(gaps[0] / 3600, 2) if gaps else None,
        "median_gap_hours": round(_percentile(gaps, 50) / 3600, 2) if gaps else None,
        # as decided: parents' planned release ≥ students' planned release + delay
        "planned_compliant": planned,
        "ok": compliant == len(gaps),
    }


def _gap(seconds: float) -> str:
    """23 h 59 min 58 s: a gap a few seconds short of 24 h must not read "24,0 h"."""
    s = int(seconds)
    return f"{s // 3600} h {s % 3600 // 60:02d} min {s % 60:02d} s"


def _last_delivery(run: SimulationRun, at: list[float | None]) -> list[float | None]:
    """When each message was delivered for the last time (`at` is the first)."""
    last = run.worker_deliveries.last
    return [a if t is None else t for a, t in zip(at, last, strict=True)]


def _quiet_check(run: SimulationRun) -> dict[str, Any]:
    """Every worker delivery against the quiet windows of its establishment and audience."""
    index = run.index_of
    cache: dict[tuple[str, Audience], CompiledWindows] = {}
    in_quiet = early = 0
    examples: list[str] = []
    for when, ids, _digest in run.deliveries:
        for sid in ids:
            i = index.get(sid)
            if i is None:
                continue
            m = run.messages[i]
            key = (m.establishment, m.audience)
            windows = cache.get(key)
            if windows is None:
                windows = cache[key] = run.schedulers[m.establishment].windows(m.audience)
            problem = None
            if not windows.is_open(when):
                in_quiet += 1
                problem = "dans une fenêtre de déconnexion"
            if when < run.releases[i]:
                early += 1
                problem = "avant l'heure prévue"
            if problem and len(examples) < 5:
                examples.append(
                    f"{m.label} ({m.establishment}, {AUDIENCE_FR[m.audience.value]}) diffusé "
                    f"le {_local(run, when)} {problem}"
                )
    return {
        "released_in_quiet_window": in_quiet,
        "released_early": early,
        "examples": examples,
        "ok": in_quiet == 0 and early == 0,
    }


def _store_check(
    run: SimulationRun, n_held: int, expected: int, replaced: int, honoured: int, refused: int
) -> dict[str, Any]:
    """The summary's counts against the store's own (states, and the audit trail)."""
    states = run.stats.by_state
    pairs = {
        "rows": (n_held, sum(states.values())),
        "released": (expected, states.get("released", 0)),
        "replaced": (replaced, states.get("replaced", 0)),
        "still_held": (0, states.get("held", 0) + states.get("claimed", 0)),
        "dead": (0, states.get("dead", 0)),
    }
    if run.audit_counts is not None:
        audit = run.audit_counts
        pairs |= {
            "audit_hold": (n_held, audit.get("hold", 0)),
            "audit_release": (expected, audit.get("release", 0)),
            "audit_replace": (replaced, audit.get("replace", 0)),
            "audit_urgent_override": (honoured, audit.get("urgent_override", 0)),
            "audit_urgent_refused": (refused, audit.get("urgent_refused", 0)),
        }
    mismatches = {k: {"summary": a, "store": b} for k, (a, b) in pairs.items() if a != b}
    return {
        "states": dict(states),
        "audit": run.audit_counts,
        "compared": sorted(pairs),
        "mismatches": mismatches,
        "ok": not mismatches,
    }


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %".replace(".", ",")


def _h(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 60:.0f} min"
    return f"{x:.1f} h".replace(".", ",")


def _quiet_failure(q: dict[str, Any]) -> str:
    return (
        f"NON ({q['released_in_quiet_window']} dans une fenêtre, {q['released_early']} en avance)"
    )


def to_text(s: dict[str, Any]) -> str:
    """The summary in French, as printed after a run."""
    m = s["messages"]
    lines = [
        f"Simulation du {s['period']['start']} au {s['period']['end']} — "
        f"{len(s['establishments'])} établissement(s), politique « {s['policy']} », "
        f"graine {s['seed']}",
        f"Messages : {m['total']}, diffusés aussitôt : {m['sent_at_once']}, "
        f"retenus : {m['held']} ({_pct(m['held_share'])})",
        "Retenus par motif : "
        + ", ".join(f"{REASON_FR.get(k, k)} {v}" for k, v in s["held_by_reason"].items()),
        "Délai des messages retenus (médiane / p95 / max) :",
    ]
    for audience, d in s["delays"].items():
        lines.append(
            f"  {AUDIENCE_FR[audience]:<11} {d['count']:>7}  {_h(d['median_hours'])} / "
            f"{_h(d['p95_hours'])} / {_h(d['max_hours'])}"
        )
    g = s["grades_to_parents"]
    lines.append(
        f"Notes aux parents ≥ {g['required_hours']:g} h après l'envoi réel aux élèves : "
        + ("OUI" if g["ok"] else "NON")
        + f" ({g['compliant']} / {g['pairs']}, {_pct(g['share'])}) ; écart mesuré entre les "
        f"deux envois : minimum {_h(g['min_gap_hours'])}, médiane {_h(g['median_gap_hours'])}"
    )
    lines.extend(f"  - {e}" for e in g["short_examples"])
    u = s["urgent"]
    lines.append(f"Urgences : {u['honoured']} honorées, {u['refused']} refusées (retenues)")
    lines.append(f"Messages remplacés (même clé de regroupement) : {s['replaced']}")
    p = s["peak_minute"]
    spread = s["smoothing"]["spread_minutes"]
    lines.append(
        f"Minute la plus chargée : {p['without_smoothing']['count']} envois sans lissage "
        f"({p['without_smoothing']['at']}), {p['with_smoothing']['count']} "
        + (f"avec lissage sur {spread:g} min" if spread else "tels que diffusés")
        + f" ({p['with_smoothing']['at']})"
    )
    q = s["quiet_window_check"]
    lines.append(
        "Rien diffusé pendant une fenêtre de déconnexion : "
        + ("OUI" if q["ok"] else _quiet_failure(q))
    )
    lines.extend(f"  - {e}" for e in q["examples"])
    o = s["exactly_once"]
    lines.append(
        f"Chaque message retenu diffusé une seule fois : {'OUI' if o['ok'] else 'NON'} "
        f"({o['delivered_once']} / {o['held_not_replaced']})"
    )
    st = s["store_check"]
    lines.append(
        "Comptes identiques à ceux du magasin : "
        + ("OUI" if st["ok"] else f"NON {st['mismatches']}")
    )
    return "\n".join(lines)
