"""Group commit for the gate: holds that arrive while a write is running go out together in
the next one, one transaction (one fsync) for many requests.

Every request still waits for the transaction holding it to commit before it is answered 202,
so an answer always means "stored". One caller at a time leads: it writes the pending batch in
a worker thread, answers everyone in it, then hands the lead to the first request that arrived
meanwhile. Under no concurrency this is exactly one `hold` per request; under load the number
of transactions per second stays what the disk allows while the requests per second grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deconnexion.errors import InvalidInputError, MissingExtraError

try:
    import anyio
    import anyio.to_thread
except ImportError as exc:  # pragma: no cover - the asgi extra brings anyio
    raise MissingExtraError("asgi", "anyio") from exc

__all__ = ["GroupCommit"]

MAX_BATCH = 256


class _Slot:
    __slots__ = ("done", "error", "lead", "request", "result")

    def __init__(self, request: Any) -> None:
        self.request = request
        self.done = anyio.Event()
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """`await hold(request)` → the queue's `HoldResult`, written with others when possible.

    `queue` needs `hold_each(requests)` (`HoldQueue`: one result or error per request, so
    one bad request never fails another) or at least `hold_many(requests)`; `request_type`
    builds one request from keyword arguments (`deconnexion.hold.request.HoldRequest`).
    """

    def __init__(self, queue: Any, request_type: Any, max_batch: int = MAX_BATCH) -> None:
        self.queue = queue
        self.request_type = request_type
        self.max_batch = max_batch
        self._pending: list[_Slot] = []
        self._writing = False

    async def hold(self, **fields: Any) -> Any:
        slot = _Slot(self.request_type(**fields))
        self._pending.append(slot)
        if self._writing:
            await slot.done.wait()
            if not slot.lead:
                return slot.outcome()
        self._writing = True
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        try:
            await anyio.to_thread.run_sync(self._write, batch)
        finally:
            if self._pending:
                after = self._pending[0]
                after.lead = True
                after.done.set()
            else:
                self._writing = False
            for other in batch:
                if other.result is None and other.error is None:
                    other.error = RuntimeError("hold interrupted before it was written")
                if other is not slot:
                    other.done.set()
        return slot.outcome()

    def _write(self, batch: Sequence[_Slot]) -> None:
        requests = [s.request for s in batch]
        each = getattr(self.queue, "hold_each", None)
        try:
            if each is not None:
                # each request gets its own result or error (HoldQueue.hold_each)
                for s, outcome in zip(batch, each(requests), strict=True):
                    if isinstance(outcome, BaseException):
                        s.error = outcome
                    else:
                        s.result = outcome
                return
            results = self.queue.hold_many(requests)
        except InvalidInputError as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One bad request refuses the whole batch: hold them one by one.
            for s in batch:
                self._write_one(s)
            return
        except Exception as exc:  # a store outage: every request of the batch learns it
            for s in batch:
                s.error = exc
            return
        for s, result in zip(batch, results, strict=True):
            s.result = result

    def _write_one(self, slot: _Slot) -> None:
        try:
            slot.result = self.queue.hold_many([slot.request])[0]
        except Exception as exc:
            slot.error = exc
