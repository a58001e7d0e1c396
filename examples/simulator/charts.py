"""The report's inline SVG charts: the timeline (quiet windows shaded, each message's arrival,
wait and release) and the release peaks (sends per minute, with and without smoothing), with
the French number and date formats they use. Pure functions returning markup strings.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import date, datetime, timedelta

from deconnexion.core.message import Audience, ReasonCode

from .run import SimulationRun
from .summary import AUDIENCE_FR, per_minute

__all__ = [
    "busiest_week",
    "day_fr",
    "drawn_caption",
    "esc",
    "hours_fr",
    "legend",
    "num",
    "pct",
    "peaks",
    "timeline",
]

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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(x: float | int) -> str:
    """French number: thin spaces between thousands, comma decimals."""
    if isinstance(x, int):
        return f"{x:,}".replace(",", "\u202f")
    return f"{x:,.1f}".replace(",", "\u202f").replace(".", ",")


def pct(x: float) -> str:
    return f"{x * 100:.1f}\u00a0%".replace(".", ",")


def hours_fr(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 60:.0f}\u00a0min"
    if x < 48:
        return f"{x:.1f}\u00a0h".replace(".", ",")
    return f"{x / 24:.1f}\u00a0j".replace(".", ",")


def day_fr(d: date) -> str:
    return f"{DAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]}"


# -- timeline ----------------------------------------------------------------------------------


class _Axis:
    def __init__(self, t0: float, t1: float, x0: float, x1: float) -> None:
        self.t0, self.t1, self.x0, self.x1 = t0, t1, x0, x1

    def x(self, t: float) -> float:
        t = min(max(t, self.t0), self.t1)
        return self.x0 + (t - self.t0) / (self.t1 - self.t0) * (self.x1 - self.x0)


def timeline(
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
                f'<text class="small" x="{x + 3:.1f}" y="{bottom + 18}">{day_fr(day)}</text>'
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


def peaks(run: SimulationRun) -> str:
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
            f"{num(step * k)}</text>"
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
        f'<text class="label" x="{left}" y="{height - 8}">{esc(day_fr(day))} {day.year}</text>'
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


def legend() -> str:
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


def drawn_caption(run: SimulationRun, first: date, last: date) -> str:
    tz = next(iter(run.schedulers.values())).tz
    t0 = datetime.combine(first, datetime.min.time(), tz).timestamp()
    t1 = datetime.combine(last, datetime.min.time(), tz).timestamp()
    inside = len(_inside(run, t0, t1))
    drawn = min(inside, MAX_DRAWN)
    if drawn == inside:
        return f"{num(inside)} messages tracés."
    return f"{num(drawn)} messages tracés sur {num(inside)} (échantillon régulier)."


def busiest_week(run: SimulationRun) -> tuple[date, date]:
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
