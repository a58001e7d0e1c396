"""Prometheus text exposition (format 0.0.4), written here and nowhere else: the hold store's
state (`prometheus_text`, served by the admin API's `/metrics`) and a release worker's counters
(`worker_prometheus_text`, what `ReleaseWorker.prometheus_text()` returns)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from deconnexion.store.base import Stats

__all__ = ["family", "prometheus_text", "worker_prometheus_text"]

Sample = tuple[Mapping[str, str], float | int | str]  # (labels, value already formatted or not)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def family(
    name: str, kind: Literal["counter", "gauge"], help_text: str, samples: Iterable[Sample]
) -> list[str]:
    """One metric family: its `# HELP` and `# TYPE` lines, then one line per sample."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        shown = ",".join(f'{key}="{_label(text)}"' for key, text in labels.items())
        lines.append(f"{name}{{{shown}}} {value}" if shown else f"{name} {value}")
    return lines


def _text(families: Iterable[list[str]]) -> str:
    return "\n".join(line for lines in families for line in lines) + "\n"


def prometheus_text(stats: Stats, now: float) -> str:
    """Held messages by reason, messages by state and the age of the oldest held message."""
    age = 0.0 if stats.oldest_held_created_at is None else now - stats.oldest_held_created_at
    return _text(
        [
            family(
                "deconnexion_held_messages", "gauge", "Messages currently held.", [({}, stats.held)]
            ),
            family(
                "deconnexion_held_by_reason",
                "gauge",
                "Held messages per reason (one message may have two).",
                [({"reason": r}, count) for r, count in sorted(stats.by_reason.items())],
            ),
            family(
                "deconnexion_messages",
                "gauge",
                "Stored messages per state (released, dead, cancelled…).",
                [({"state": s}, count) for s, count in sorted(stats.by_state.items())],
            ),
            family(
                "deconnexion_oldest_held_age_seconds",
                "gauge",
                "Age of the oldest held message (0: none).",
                [({}, f"{max(0.0, age):.3f}")],
            ),
        ]
    )


WORKER_COUNTERS = (
    ("claimed", "Messages claimed from the store."),
    ("released", "Messages delivered and acknowledged."),
    ("failed", "Messages whose delivery failed and will be retried."),
    ("dead", "Messages moved to the dead-letter state."),
    ("expired", "Messages not delivered: claimed after their expires_at."),
    ("deferred", "Claimed messages given back untried (smoothing, shutdown)."),
    ("early_skipped", "Messages not delivered because their release time had not come."),
    ("waited_for_students", "Parents' grades given back to wait for the students' delivery."),
    ("waited_for_open", "Messages given back because they came back in a quiet window."),
    ("digests", "Digests built."),
    ("batches", "Batches processed."),
)


def worker_prometheus_text(worker_id: str, counters: Mapping[str, Any]) -> str:
    """A release worker's counters (`WORKER_COUNTERS`) and the end of its last batch."""
    label = {"worker": worker_id}
    families = [
        family(
            f"deconnexion_worker_{name}_total",
            "counter",
            help_text,
            [(label, counters.get(name, 0))],
        )
        for name, help_text in WORKER_COUNTERS
    ]
    families.append(
        family(
            "deconnexion_worker_last_batch_timestamp_seconds",
            "gauge",
            "End of the last batch.",
            [(label, counters["last_batch_at"] or 0)],
        )
    )
    return _text(families)
