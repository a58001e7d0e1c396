"""The simulation report: one self-contained HTML file, in French, with inline SVG.

No script, no font, no stylesheet from elsewhere: the file opens offline and prints. Three
parts with stable ids: the timeline (`id="timeline"`, and `id="timeline-week"` for the busiest
week: quiet windows shaded, each message's arrival and release), the release peaks
(`id="peaks"`: sends per minute around the busiest morning, with and without storm smoothing)
and the summary table (`id="summary"`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .charts import (
    busiest_week,
    day_fr,
    drawn_caption,
    esc,
    hours_fr,
    legend,
    num,
    pct,
    peaks,
    timeline,
)
from .run import SimulationRun
from .summary import AUDIENCE_FR, GROUP_FR, REASON_FR, delivered_times

__all__ = ["render", "write_report"]

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


def _when_fr(iso: str | None) -> str:
    """'2025-11-03T07:00+01:00' → 'lun. 3 nov. 2025 à 07:00'."""
    if not iso:
        return "—"
    t = datetime.fromisoformat(iso)
    return f"{day_fr(t.date())} {t.year} à {t:%H:%M}"


# -- summary table -----------------------------------------------------------------------------


def _rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, css class) for each row of the summary table."""
    m = s["messages"]
    rows: list[tuple[str, str, str]] = [
        (
            "Période simulée",
            f"du {day_fr(date.fromisoformat(s['period']['start']))} au "
            f"{day_fr(date.fromisoformat(s['period']['end']))} "
            f"{s['period']['end'][:4]} (horloge simulée jusqu'au "
            f"{_when_fr(s['period']['simulated_until'])})",
            "",
        ),
        (
            "Établissements",
            ", ".join(s["establishments"][:6]) + (" …" if len(s["establishments"]) > 6 else ""),
            "",
        ),
        ("Messages", num(m["total"]), "num"),
        ("Diffusés aussitôt (heures ouvertes)", num(m["sent_at_once"]), "num"),
        ("Retenus", f"{num(m['held'])} ({pct(m['held_share'])})", "num"),
    ]
    for code, count in s["held_by_reason"].items():
        rows.append((f"Retenus — {REASON_FR.get(code, code)}", num(count), "num"))
    for group, g in sorted(m["by_group"].items(), key=lambda kv: -kv[1]["total"]):
        share = g["held"] / g["total"] if g["total"] else 0.0
        rows.append(
            (
                f"{GROUP_FR.get(group, group).capitalize()} : retenus",
                f"{num(g['held'])} sur {num(g['total'])} ({pct(share)})",
                "num",
            )
        )
    for audience, d in s["delays"].items():
        rows.append(
            (
                f"Délai des messages retenus — {AUDIENCE_FR[audience]} (médiane / p95 / max)",
                f"{hours_fr(d['median_hours'])} / {hours_fr(d['p95_hours'])} / "
                f"{hours_fr(d['max_hours'])} ({num(d['count'])} messages)",
                "num",
            )
        )
    g = s["grades_to_parents"]
    rows.append(
        (
            f"Notes aux parents ≥ {g['required_hours']:g} h après l'envoi réel aux élèves",
            f"{num(g['compliant'])} sur {num(g['pairs'])} ({pct(g['share'])})",
            "num check ok" if g["ok"] else "num check ko",
        )
    )
    rows.append(
        (
            "Écart mesuré entre l'envoi aux élèves et l'envoi aux parents",
            f"minimum {hours_fr(g['min_gap_hours'])}, médiane {hours_fr(g['median_gap_hours'])} "
            f"; trop court : {num(g['short'])}",
            "num",
        )
    )
    u = s["urgent"]
    rows.append(("Urgences honorées (chef d'établissement, justifiées)", num(u["honoured"]), "num"))
    rows.append(("Urgences refusées (retenues)", num(u["refused"]), "num"))
    rows.append(("Messages remplacés avant diffusion (notes corrigées)", num(s["replaced"]), "num"))
    p = s["peak_minute"]
    spread = s["smoothing"]["spread_minutes"]
    rows.append(
        (
            "Minute la plus chargée sans lissage",
            f"{num(p['without_smoothing']['count'])} envois "
            f"({_when_fr(p['without_smoothing']['at'])})",
            "num",
        )
    )
    rows.append(
        (
            f"Minute la plus chargée avec lissage sur {spread:g} min"
            if spread
            else "Minute la plus chargée (sans lissage)",
            f"{num(p['with_smoothing']['count'])} envois ({_when_fr(p['with_smoothing']['at'])})",
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
            f"{'oui' if o['ok'] else 'NON'} ({num(o['delivered_once'])} sur "
            f"{num(o['held_not_replaced'])})",
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
        ("", pct(m["held_share"]), f"des {num(m['total'])} messages retenus"),
        ("", hours_fr(s["delays"]["students"]["median_hours"]), "délai médian (élèves)"),
        (
            "" if g["ok"] else "ko",
            pct(g["share"]),
            f"notes aux parents ≥ {g['required_hours']:g} h après l'envoi réel aux élèves",
        ),
        ("", f"{u['honoured']} / {u['refused']}", "urgences honorées / refusées"),
        (
            "",
            f"{num(p['without_smoothing']['count'])} → {num(p['with_smoothing']['count'])}",
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


def render(run: SimulationRun, summary: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    at, _count = delivered_times(run)
    sched = next(iter(run.schedulers.values()))
    first = run.establishments[0]
    where = first.name or first.key
    if len(run.establishments) > 1:
        where = f"{len(run.establishments)} établissements (chronologie : {first.key})"
    zoom_start, zoom_end = busiest_week(run)
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
{esc(day_fr(run.config.start))} au {esc(day_fr(run.config.end))} {run.config.end.year} —
politique « {esc(run.policy.name)} » — {num(len(run.messages))} messages, graine
{run.config.seed}</p>
{_cards(summary)}
<h2>Chronologie</h2>
<figure>
{timeline(run, at, run.config.start, run.config.end + timedelta(days=2), "timeline")}
{legend()}
<figcaption>Chaque point est un message à son arrivée ; un trait orange mène à sa diffusion
(point noir) quand il est retenu. Zones grisées : fenêtres de déconnexion du calendrier des
élèves. {esc(drawn_caption(run, run.config.start, run.config.end + timedelta(days=2)))}</figcaption>
</figure>
<h2>Zoom sur la semaine la plus chargée</h2>
<figure>
{timeline(run, at, zoom_start, zoom_end, "timeline-week")}
{legend()}
<figcaption>Du {esc(day_fr(zoom_start))} au {esc(day_fr(zoom_end - timedelta(days=1)))} :
les notes saisies le soir et les devoirs du dimanche attendent 7 h ; les notes partent aux
parents 24 h après les élèves. {esc(drawn_caption(run, zoom_start, zoom_end))}</figcaption>
</figure>
<h2>Pics de diffusion</h2>
<figure>
{peaks(run)}
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
