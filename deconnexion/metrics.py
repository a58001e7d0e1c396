"""Prometheus text exposition of the hold store's state (format 0.0.4)."""

from __future__ import annotations

from deconnexion.store.base import Stats

__all__ = ["prometheus_text"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(stats: Stats, now: float) -> str:
    """Held messages by reason, messages by state and the age of the oldest held message."""
    lines = [
        "# HELP deconnexion_held_messages Messages currently held.",
        "# TYPE deconnexion_held_messages gauge",
        f"deconnexion_held_messages {stats.held}",
        "# HELP deconnexion_held_by_reason Held messages per reason (one message may have two).",
        "# TYPE deconnexion_held_by_reason gauge",
    ]
    lines += [
        f'deconnexion_held_by_reason{{reason="{_label(reason)}"}} {count}'
        for reason, count in sorted(stats.by_reason.items())
    ]
    lines += [
        "# HELP deconnexion_messages Stored messages per state (released, dead, cancelled…).",
        "# TYPE deconnexion_messages gauge",
    ]
    lines += [
        f'deconnexion_messages{{state="{_label(state)}"}} {count}'
        for state, count in sorted(stats.by_state.items())
    ]
    age = 0.0 if stats.oldest_held_created_at is None else now - stats.oldest_held_created_at
    lines += [
        "# HELP deconnexion_oldest_held_age_seconds Age of the oldest held message (0: none).",
        "# TYPE deconnexion_oldest_held_age_seconds gauge",
        f"deconnexion_oldest_held_age_seconds {max(0.0, age):.3f}",
    ]
    return "\n".join(lines) + "\n"
