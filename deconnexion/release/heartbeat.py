"""Is the release worker alive? Its heartbeat, in memory and optionally in a file.

The worker beats at each turn of its loop (before each claim, so at least every
`poll_interval`). `/health` reads the beat of the worker running in the same process (the
gateway's embedded worker, an app's own), or, for a worker in another process on the same
host (`deconnexion worker --heartbeat-file PATH` next to `deconnexion gateway --no-worker
--heartbeat-file PATH`), the small JSON file that worker rewrites at most once a second.
A beat older than `stale_after` seconds means the worker is stuck or gone.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FILE_INTERVAL", "Heartbeat", "HeartbeatFile", "worker_health"]

FILE_INTERVAL = 1.0  # seconds between two writes of the heartbeat file
log = logging.getLogger("deconnexion.worker")


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


def worker_health(
    worker_id: str | None, last_beat: float | None, stale_after: float, now: float
) -> dict[str, Any]:
    """The `worker` object of /health."""
    age = None if last_beat is None else max(0.0, now - last_beat)
    return {
        "alive": age is not None and age <= stale_after,
        "id": worker_id,
        "last_beat_at": _iso(last_beat),
        "age_seconds": None if age is None else round(age, 3),
        "stale_after_seconds": stale_after,
    }


class Heartbeat:
    """The beats of one worker; written to `path` too when given."""

    def __init__(self, worker_id: str, stale_after: float, path: str | None = None) -> None:
        self.worker_id = worker_id
        self.stale_after = stale_after
        self.path = Path(path) if path else None
        self.last_beat: float | None = None
        self.stopped = False
        self._written_at: float | None = None

    def beat(self, now: float) -> None:
        self.last_beat, self.stopped = now, False
        if self.path is not None and (
            self._written_at is None or not 0 <= now - self._written_at < FILE_INTERVAL
        ):
            self._write(now)

    def stop(self, now: float) -> None:
        """The worker returned from `run`: not alive, whatever its last beat."""
        self.stopped = True
        if self.path is not None:
            self._write(now)

    def status(self, now: float) -> dict[str, Any]:
        found = worker_health(self.worker_id, self.last_beat, self.stale_after, now)
        if self.stopped:
            found["alive"] = False
        return found

    def _write(self, now: float) -> None:
        if self.path is None:
            return
        record = {
            "worker_id": self.worker_id,
            "last_beat": self.last_beat,
            "stale_after": self.stale_after,
            "stopped": self.stopped,
        }
        # Write then rename: a reader never sees half a file.
        # Write then rename: a reader never sees half a file. A failed write is logged, never
        # fatal: releasing matters more than reporting.
        self._written_at = now
        try:
            fd, tmp = tempfile.mkstemp(prefix=".heartbeat-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot write the heartbeat file %s: %s", self.path, exc)


class HeartbeatFile:
    """The heartbeat of a worker in another process, read from its file."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def status(self, now: float) -> dict[str, Any]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            last = float(record["last_beat"]) if record.get("last_beat") is not None else None
            stale_after = float(record["stale_after"])
            worker_id = str(record.get("worker_id"))
        except FileNotFoundError:
            return {**worker_health(None, None, 0.0, now), "error": f"no file {self.path}"}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return {**worker_health(None, None, 0.0, now), "error": f"{self.path}: {exc}"}
        found = worker_health(worker_id, last, stale_after, now)
        if record.get("stopped"):
            found["alive"] = False
        return found
