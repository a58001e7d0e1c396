"""Small pieces every store shares: audit rows for worker outcomes, reschedule results."""

from __future__ import annotations

from .base import AuditEntry, HeldMessage, Rescheduled

__all__ = ["as_rescheduled", "audit_for_ack", "audit_for_fail", "sorted_counts"]


def as_rescheduled(value: float | Rescheduled) -> Rescheduled:
    """Accept a bare release time (epoch) or a full `Rescheduled` from a reschedule callback."""
    if isinstance(value, Rescheduled):
        if value.reasons is not None:
            return Rescheduled(float(value.release_at), tuple(value.reasons), value.decision)
        return Rescheduled(float(value.release_at), None, value.decision)
    return Rescheduled(float(value))


def audit_for_ack(row: HeldMessage, worker_id: str, now: float) -> AuditEntry:
    return AuditEntry(
        now, row.establishment, row.id, "release", worker_id, {"attempts": row.attempts}
    )


def audit_for_fail(
    row: HeldMessage, worker_id: str, now: float, error: str, retry_at: float | None
) -> AuditEntry:
    if retry_at is None:
        detail = {"error": error, "attempts": row.attempts}
        return AuditEntry(now, row.establishment, row.id, "dead", worker_id, detail)
    detail = {"error": error, "attempts": row.attempts, "retry_at": retry_at}
    return AuditEntry(now, row.establishment, row.id, "failure", worker_id, detail)


def sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))
