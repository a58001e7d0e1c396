"""The simulation report: one self-contained HTML file, in French, with inline SVG.

No script, no font, no stylesheet from elsewhere: the file opens offline and prints. Three
parts with stable ids: the timeline (`id="timeline"`: quiet windows shaded, each message's
arrival and release), the release peaks (`id="peaks"`: sends per minute around the busiest
morning, with and without storm smoothing) and the summary table (`id="summary"`).
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from deconnexion.message import Audience, ReasonCode

from .run import SimulationRun
from .summary import AUDIENCE_FR, GROUP_FR, REASON_FR, delivered_times, per_minute

__all__ = ["render", "write_report"]

MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
          "nov.", "déc.")  # fmt: skip
DAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
COLORS = {"students": "#2563eb", "parents": "#c2410c", "staff": "#15803d"}
MAX_DRAWN = 3000
QUIET_FILL = {
    "night": "#e6ebf3",
    "long": "#d5deec",
    "holiday": "#c3d0e6",
}  # messages drawn on the timeline; more are sampled evenly

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937;
  margin: 0; background: #f8fafc; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 30px 0 8px; }
p.sub { margin: 0 0 18px; color: #4b5563; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(175px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 12px 14px; }
.card b { display: block; font-size: 24px; line-height: 1.2; }
.card span { color: #4b5563; font-size: 13px; }
.ok b { color: #15803d; } .ko b { color: #b91c1c; }
figure { margin: 0; background: #fff; border: 1px solid #e5e7eb; border-radius: 10px;
  padding: 10px 12px 6px; }
figcaption { font-size: 13px; color: #4b5563; margin: 4px 2px 6px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #374151; }
svg .small { font-size: 11px; fill: #6b7280; }
svg .label { font-size: 12px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 13px; color: #374151;
  margin: 6px 2px 2px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  vertical-align: -1px; margin-right: 5px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #e5e7eb; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid #eef0f3;
  vertical-align: top; }
th { width: 38%; font-weight: 600; color: #374151; }
td.num { font-variant-numeric: tabular-nums; }
tr.check td { font-weight: 600; }
tr.check.ok td { color: #15803d; } tr.check.ko td { color: #b91c1c; }
footer { margin-top: 26px; font-size: 12px; color: #6b7280; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(x: float | int) -> str:
    """French number: thin spaces between thousands, comma decimals."""
    if isinstance(x, int):
        return f"{x:,}".replace(",", "\u202f")
    return f"{x:,.1f}".replace(",", "\u202f").replace(".", ",")


def _pct(x: float) -> str:
    return f"{x * 100:.1f}\u00a0%".replace(".", ",")


def _hours(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 60:.0f}\u00a0min"
    if x < 48:
        return f"{x:.1f}\u00a0h".replace(".", ",")
    return f"{x / 24:.1f}\u00a0j".replace(".", ",")


def _day_fr(d: date) -> str:
    return f"{DAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]}"


# -- timeline ----------------------------------------------------------------------------------


class _Axis:
    def __init__(self, t0: float, t1: float, x0: float, x1: float) -> None:
        self.t0, self.t1, self.x0, self.x1 = t0, t1, x0, x1

    def x(self, t: float) -> float:
        t = min(max(t, self.t0), self.t1)
        return self.x0 + (t - self.t0) / (self.t1 - self.t0) * (self.x1 - self.x0)


def _timeline(
    run: SimulationRun, at: list[float | None], first: date, last: date, svg_id: str
) -> str:
    """Lanes per audience over [first, last): quiet windows shaded, messages drawn."""
    sched = next(iter(run.schedulers.values()))
    tz = sched.tz
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last, datetime.min.time(), tz)
    t0, t1 = start.timestamp(), end.timestamp()
    daily = (last - first).days <= 10
    width, left, right = 1200, 92, 1188
    lanes = [a.value for a in Audience]
    lane_h, top = 92, 40
    height = top + lane_h * len(lanes) + 44
    axis = _Axis(t0, t1, left, right)
    out: list[str] = [
        f'<svg id="{svg_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Chronologie des messages et des fenêtres de déconnexion">'
    ]
    bottom = top + lane_h * len(lanes)
    # quiet windows of the first establishment, students' calendar
    out.append('<g class="quiet">')
    labels: list[tuple[float, float, str]] = []
    for w in sched.quiet_windows(start, end):
        a, b = axis.x(w.start.timestamp()), axis.x(w.end.timestamp())
        codes = {r.code for r in w.reasons}
        holiday = ReasonCode.SCHOOL_HOLIDAY in codes
        long = ReasonCode.WEEKEND in codes or ReasonCode.PUBLIC_HOLIDAY in codes or holiday
        fill = QUIET_FILL["holiday" if holiday else ("long" if long else "night")]
        why = ", ".join(r.label_fr for r in w.reasons)
        out.append(
            f'<rect class="quiet-window" x="{a:.1f}" y="{top}" width="{max(b - a, 0.6):.1f}" '
            f'height="{bottom - top}" fill="{fill}"><title>{esc(why)} : '
            f"{esc(w.start.strftime('%d/%m %H:%M'))} → {esc(w.end.strftime('%d/%m %H:%M'))}"
            "</title></rect>"
        )
        if holiday:
            name = next(r.label_fr for r in w.reasons if r.code is ReasonCode.SCHOOL_HOLIDAY)
            labels.append((a, b, name))
    out.append("</g>")
    for a, b, name in labels:
        out.append(
            f'<text class="label" x="{(a + b) / 2:.1f}" y="{top - 8}" '
            f'text-anchor="middle">{esc(name)}</text>'
        )
    # day grid and labels
    out.append('<g class="axis">')
    day = first
    while day <= last:
        x = axis.x(datetime.combine(day, datetime.min.time(), tz).timestamp())
        mark = daily or day.weekday() == 0
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom + (6 if mark else 0)}" '
            f'stroke="{"#9ca3af" if mark else "#d1d5db"}" stroke-width="1"/>'
        )
        if mark and day < last and x < right - 60:
            out.append(
                f'<text class="small" x="{x + 3:.1f}" y="{bottom + 18}">{_day_fr(day)}</text>'
            )
        day += timedelta(days=1)
    out.append("</g>")
    # lanes
    for k, lane in enumerate(lanes):
        y = float(top + k * lane_h)
        out.append(
            f'<line x1="{left}" y1="{y + lane_h}" x2="{right}" y2="{y + lane_h}" stroke="#d1d5db"/>'
        )
        out.append(
            f'<text class="label" x="{left - 10}" y="{y + lane_h / 2 + 4}" text-anchor="end" '
            f'fill="{COLORS[lane]}">{esc(AUDIENCE_FR[lane].capitalize())}</text>'
        )
    # messages: arrival dot, and for held ones a line to the release
    picked = _sample(len(run.messages), t0, t1, run)
    links: list[str] = []
    dots: list[str] = []
    for i in picked:
        m = run.messages[i]
        row = lanes.index(m.audience.value)
        y = top + row * lane_h + 8 + (_jitter(i) * (lane_h - 16))
        xa = axis.x(m.created_at)
        color = COLORS[m.audience.value]
        if run.held[i] and at[i] is not None:
            xr = axis.x(at[i])  # type: ignore[arg-type]
            links.append(f'<line x1="{xa:.1f}" y1="{y:.1f}" x2="{xr:.1f}" y2="{y:.1f}"/>')
            dots.append(f'<circle class="release" cx="{xr:.1f}" cy="{y:.1f}" r="1.9"/>')
        dots.append(f'<circle class="arrival" cx="{xa:.1f}" cy="{y:.1f}" r="1.6" fill="{color}"/>')
    out.append(
        '<g class="waits" stroke="#f59e0b" stroke-opacity="0.35" stroke-width="0.8">'
        + "".join(links)
        + "</g>"
    )
    out.append('<g class="dots"><g fill="#111827" fill-opacity="0.75">')
    out.extend(d for d in dots if 'class="release"' in d)
    out.append("</g>")
    out.extend(d for d in dots if 'class="arrival"' in d)
    out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _inside(run: SimulationRun, t0: float, t1: float) -> list[int]:
    """Messages of the first establishment (whose windows are drawn) arriving in [t0, t1)."""
    key = run.establishments[0].key
    return [
        i for i, m in enumerate(run.messages) if m.establishment == key and t0 <= m.created_at < t1
    ]


def _sample(n: int, t0: float, t1: float, run: SimulationRun) -> list[int]:
    """At most MAX_DRAWN message indices, evenly spread over those arriving in [t0, t1)."""
    inside = _inside(run, t0, t1)
    if len(inside) <= MAX_DRAWN:
        return inside
    step = len(inside) / MAX_DRAWN
    return [inside[int(k * step)] for k in range(MAX_DRAWN)]


def _jitter(i: int) -> float:
    """A stable pseudo-random position in [0, 1) for message i (spreads dots in a lane)."""
    return ((i * 2654435761) % 4294967296) / 4294967296


# -- peaks -------------------------------------------------------------------------------------


def _peaks(run: SimulationRun, summary: dict[str, Any]) -> str:
    without, with_ = per_minute(run)
    if without:
        peak = max(without.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    else:
        peak = int(run.config.start.toordinal())
    minutes = list(range(peak - 3, peak + 27))
    step, ticks = _nice_ticks(
        max([1] + [without[m] for m in minutes] + [with_[m] for m in minutes])
    )
    top_value = step * ticks
    width, height, left, right, top, bottom = 1200, 300, 70, 1180, 20, 250
    slot = (right - left) / len(minutes)
    tz = next(iter(run.schedulers.values())).tz
    out = [
        f'<svg id="peaks" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Envois par minute autour du pic">'
    ]
    for k in range(ticks + 1):
        y = bottom - (bottom - top) * k / ticks
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eef0f3"/>'
            f'<text class="small" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_num(step * k)}</text>"
        )
    for j, minute in enumerate(minutes):
        x = left + j * slot
        for offset, value, color, cls in (
            (0.12, without[minute], "#f59e0b", "bar-without"),
            (0.5, with_[minute], "#2563eb", "bar-with"),
        ):
            h = (bottom - top) * value / top_value
            out.append(
                f'<rect class="{cls}" x="{x + slot * offset:.1f}" y="{bottom - h:.1f}" '
                f'width="{slot * 0.38:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{value} envoi(s)</title></rect>"
            )
        if j % 5 == 0:
            label = datetime.fromtimestamp(minute * 60, tz).strftime("%H:%M")
            out.append(
                f'<text class="small" x="{x + slot / 2:.1f}" y="{bottom + 18}" '
                f'text-anchor="middle">{label}</text>'
            )
    day = datetime.fromtimestamp(peak * 60, tz).date()
    out.append(
        f'<text class="label" x="{left}" y="{height - 8}">{esc(_day_fr(day))} {day.year}</text>'
    )
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9ca3af"/>')
    out.append("</svg>")
    return "".join(out)


def _nice_ticks(top: int) -> tuple[int, int]:
    """(step, count): a round step (1, 2 or 5 × 10^k) and 3 to 6 ticks reaching `top`."""
    magnitude = 1
    while True:
        for unit in (1, 2, 5):
            step = unit * magnitude
            count = -(-top // step)
            if count <= 6:
                return step, max(count, 3 if step * 3 >= top else count)
        magnitude *= 10


def _when_fr(iso: str | None) -> str:
    """'2025-11-03T07:00+01:00' → 'lun. 3 nov. 2025 à 07:00'."""
    if not iso:
        return "—"
    t = datetime.fromisoformat(iso)
    return f"{_day_fr(t.date())} {t.year} à {t:%H:%M}"


# -- summary table -----------------------------------------------------------------------------


def _rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, css class) for each row of the summary table."""
    m = s["messages"]
    rows: list[tuple[str, str, str]] = [
        (
            "Période simulée",
            f"du {_day_fr(date.fromisoformat(s['period']['start']))} au "
            f"{_day_fr(date.fromisoformat(s['period']['end']))} "
            f"{s['period']['end'][:4]} (horloge simulée jusqu'au "
            f"{_when_fr(s['period']['simulated_until'])})",
            "",
        ),
        (
            "Établissements",
            ", ".join(s["establishments"][:6]) + (" …" if len(s["establishments"]) > 6 else ""),
            "",
        ),
        ("Messages", _num(m["total"]), "num"),
        ("Diffusés aussitôt (heures ouvertes)", _num(m["sent_at_once"]), "num"),
        ("Retenus", f"{_num(m['held'])} ({_pct(m['held_share'])})", "num"),
    ]
    for code, count in s["held_by_reason"].items():
        rows.append((f"Retenus — {REASON_FR.get(code, code)}", _num(count), "num"))
    for group, g in sorted(m["by_group"].items(), key=lambda kv: -kv[1]["total"]):
        share = g["held"] / g["total"] if g["total"] else 0.0
        rows.append(
            (
                f"{GROUP_FR.get(group, group).capitalize()} : retenus",
                f"{_num(g['held'])} sur {_num(g['total'])} ({_pct(share)})",
                "num",
            )
        )
    for audience, d in s["delays"].items():
        rows.append(
            (
                f"Délai des messages retenus — {AUDIENCE_FR[audience]} (médiane / p95 / max)",
                f"{_hours(d['median_hours'])} / {_hours(d['p95_hours'])} / "
                f"{_hours(d['max_hours'])} ({_num(d['count'])} messages)",
                "num",
            )
        )
    g = s["grades_to_parents"]
    rows.append(
        (
            f"Notes aux parents ≥ {g['required_hours']:g} h après la diffusion prévue aux élèves",
            f"{_num(g['compliant'])} sur {_num(g['pairs'])} ({_pct(g['share'])})",
            "num",
        )
    )
    rows.append(
        (
            "Écart mesuré entre l'envoi aux élèves et aux parents",
            f"minimum {_hours(g['min_gap_hours'])}, médiane {_hours(g['median_gap_hours'])} ; "
            f"≥ {g['required_hours']:g} h pour {_pct(g['delivered_share'])} (le lissage décale "
            "chaque envoi de quelques minutes)",
            "num",
        )
    )
    u = s["urgent"]
    rows.append(
        ("Urgences honorées (chef d'établissement, justifiées)", _num(u["honoured"]), "num")
    )
    rows.append(("Urgences refusées (retenues)", _num(u["refused"]), "num"))
    rows.append(
        ("Messages remplacés avant diffusion (notes corrigées)", _num(s["replaced"]), "num")
    )
    p = s["peak_minute"]
    spread = s["smoothing"]["spread_minutes"]
    rows.append(
        (
            "Minute la plus chargée sans lissage",
            f"{_num(p['without_smoothing']['count'])} envois "
            f"({_when_fr(p['without_smoothing']['at'])})",
            "num",
        )
    )
    rows.append(
        (
            f"Minute la plus chargée avec lissage sur {spread:g} min"
            if spread
            else "Minute la plus chargée (sans lissage)",
            f"{_num(p['with_smoothing']['count'])} envois ({_when_fr(p['with_smoothing']['at'])})",
            "num",
        )
    )
    q, o, st = s["quiet_window_check"], s["exactly_once"], s["store_check"]
    rows.append(
        (
            "Rien diffusé pendant une fenêtre de déconnexion",
            "oui" if q["ok"] else f"NON : {q['released_in_quiet_window']} dans une fenêtre, "
            f"{q['released_early']} en avance",
            "check ok" if q["ok"] else "check ko",
        )
    )  # fmt: skip
    rows.append(
        (
            "Chaque message retenu diffusé une et une seule fois",
            f"{'oui' if o['ok'] else 'NON'} ({_num(o['delivered_once'])} sur "
            f"{_num(o['held_not_replaced'])})",
            "check ok" if o["ok"] else "check ko",
        )
    )
    rows.append(
        (
            "Comptes identiques à ceux du magasin (états et journal d'audit)",
            "oui" if st["ok"] else f"NON : {esc(st['mismatches'])}",
            "check ok" if st["ok"] else "check ko",
        )
    )
    return rows


def _table(s: dict[str, Any]) -> str:
    body = "".join(
        f'<tr class="{cls}"><th scope="row">{esc(label)}</th>'
        f'<td class="{"num" if "num" in cls else ""}">{esc(value)}</td></tr>'
        for label, value, cls in _rows(s)
    )
    return f'<table id="summary"><tbody>{body}</tbody></table>'


def _cards(s: dict[str, Any]) -> str:
    m, g, u, p = s["messages"], s["grades_to_parents"], s["urgent"], s["peak_minute"]
    checks = s["quiet_window_check"]["ok"] and s["exactly_once"]["ok"] and s["store_check"]["ok"]
    items = [
        ("", _pct(m["held_share"]), f"des {_num(m['total'])} messages retenus"),
        ("", _hours(s["delays"]["students"]["median_hours"]), "délai médian (élèves)"),
        ("", _pct(g["share"]), "notes aux parents 24 h après les élèves"),
        ("", f"{u['honoured']} / {u['refused']}", "urgences honorées / refusées"),
        (
            "",
            f"{_num(p['without_smoothing']['count'])} → {_num(p['with_smoothing']['count'])}",
            "envois à la minute de pointe, sans → avec lissage",
        ),
        (
            "ok" if checks else "ko",
            "oui" if checks else "NON",
            "rien pendant les fenêtres, tout diffusé une fois",
        ),
    ]
    return (
        '<div class="cards" id="cards">'
        + "".join(
            f'<div class="card {cls}"><b>{esc(big)}</b><span>{esc(small)}</span></div>'
            for cls, big, small in items
        )
        + "</div>"
    )


def _legend() -> str:
    swatches = [
        (QUIET_FILL["night"], "nuit"),
        (QUIET_FILL["long"], "week-end, jour férié"),
        (QUIET_FILL["holiday"], "vacances scolaires"),
        (COLORS["students"], "arrivée (élèves)"),
        (COLORS["parents"], "arrivée (parents)"),
        (COLORS["staff"], "arrivée (personnels)"),
        ("#f59e0b", "attente"),
        ("#111827", "diffusion"),
    ]
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{esc(t)}</span>' for c, t in swatches)
        + "</div>"
    )


def _drawn(run: SimulationRun, first: date, last: date) -> str:
    tz = next(iter(run.schedulers.values())).tz
    t0 = datetime.combine(first, datetime.min.time(), tz).timestamp()
    t1 = datetime.combine(last, datetime.min.time(), tz).timestamp()
    inside = len(_inside(run, t0, t1))
    drawn = min(inside, MAX_DRAWN)
    if drawn == inside:
        return f"{_num(inside)} messages tracés."
    return f"{_num(drawn)} messages tracés sur {_num(inside)} (échantillon régulier)."


def _busiest_week(run: SimulationRun) -> tuple[date, date]:
    """Friday before the busiest release minute to the Thursday after (six days)."""
    tz = next(iter(run.schedulers.values())).tz
    minutes: Counter[int] = Counter(int(when // 60) for when, _ids, _d in run.deliveries)
    if minutes:
        peak = max(minutes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        day = datetime.fromtimestamp(peak * 60, tz).date()
    else:
        day = run.config.start
    first = day - timedelta(days=(day.weekday() - 4) % 7 or 7)
    return first, first + timedelta(days=6)


def render(run: SimulationRun, summary: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    at, _count = delivered_times(run)
    sched = next(iter(run.schedulers.values()))
    first = run.establishments[0]
    where = first.name or first.key
    if len(run.establishments) > 1:
        where = f"{len(run.establishments)} établissements (chronologie : {first.key})"
    zoom_start, zoom_end = _busiest_week(run)
    spread = summary["smoothing"]["spread_minutes"]
    smoothed = f"avec lissage sur {spread:g} min (envois réels)" if spread else "envois réels"
    return f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simulation du droit à la déconnexion — {esc(where)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>Droit à la déconnexion : simulation</h1>
<p class="sub">{esc(where)} ({esc(first.location.describe())}, {esc(sched.tz)}) — du
{esc(_day_fr(run.config.start))} au {esc(_day_fr(run.config.end))} {run.config.end.year} —
politique « {esc(run.policy.name)} » — {_num(len(run.messages))} messages, graine
{run.config.seed}</p>
{_cards(summary)}
<h2>Chronologie</h2>
<figure>
{_timeline(run, at, run.config.start, run.config.end + timedelta(days=2), "timeline")}
{_legend()}
<figcaption>Chaque point est un message à son arrivée ; un trait orange mène à sa diffusion
(point noir) quand il est retenu. Zones grisées : fenêtres de déconnexion du calendrier des
élèves. {esc(_drawn(run, run.config.start, run.config.end + timedelta(days=2)))}</figcaption>
</figure>
<h2>Zoom sur la semaine la plus chargée</h2>
<figure>
{_timeline(run, at, zoom_start, zoom_end, "timeline-week")}
{_legend()}
<figcaption>Du {esc(_day_fr(zoom_start))} au {esc(_day_fr(zoom_end - timedelta(days=1)))} :
les notes saisies le soir et les devoirs du dimanche attendent 7 h ; les notes partent aux
parents 24 h après les élèves. {esc(_drawn(run, zoom_start, zoom_end))}</figcaption>
</figure>
<h2>Pics de diffusion</h2>
<figure>
{_peaks(run, summary)}
<div class="legend"><span><i style="background:#f59e0b"></i>sans lissage (à l'heure de
libération)</span><span><i style="background:#2563eb"></i>{esc(smoothed)}</span></div>
<figcaption>Envois par minute autour de la minute la plus chargée : la file retenue pendant le
week-end ou les vacances part à 7 h ; le lissage l'étale sans rien envoyer avant
l'heure.</figcaption>
</figure>
<h2>Synthèse</h2>
{_table(summary)}
<footer>Généré par <code>python -m examples.simulator</code> (deconnexion) : ordonnanceur,
file de rétention ({esc(run.options.store_url.split("?")[0].split("@")[-1])}) et diffuseur
réels, horloge simulée. Règles : IGÉSR 24-25 140C, recommandations 1, 2 et 11.</footer>
</main>
</body>
</html>
"""


def write_report(run: SimulationRun, summary: dict[str, Any], path: str | Path) -> Path:
    """Write the report; returns its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render(run, summary), encoding="utf-8")
    return p
