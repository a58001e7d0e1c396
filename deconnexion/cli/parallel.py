"""`--stdin` on every core: blocks of lines answered by worker processes, written in order.

The parent only reads blocks of whole lines and writes answers; each block is answered by a
worker with the same function as in one process (`answer_block`), so the bytes written are the
same. Workers are forked: they start with the parent's modules, schedulers and compiled
calendars, nothing is imported or compiled again. A short input is not worth the workers: the
command answers in one process and starts them only after `PARALLEL_AFTER` lines, when more
input is already waiting (`batch.answer_lines`); `--workers 1` keeps one process.

Order and latency: answers are written in the order of the blocks (a queue of pending
results). At most `IN_FLIGHT` blocks per worker are pending, and whenever no more input is
waiting every pending block is answered and flushed before the next read, so a program writing
a line at a time still gets each answer before it sends the next.

A worker that dies (killed, out of memory) fails the command: the answers before its block are
written, then one error line (`worker_lost`), and the command exits 1; nothing is dropped
silently and nothing waits forever (`concurrent.futures` tells a dead worker, a
`multiprocessing.Pool` would wait for its answer).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import BinaryIO

from deconnexion.errors import DeconnexionError

__all__ = [
    "IN_FLIGHT",
    "PARALLEL_AFTER",
    "Answer",
    "WorkerLostError",
    "answer_block",
    "answer_in_workers",
    "can_fork",
    "input_waiting",
    "usable_cores",
]

Answer = Callable[[bytes], tuple[str, bool]]

PARALLEL_AFTER = 5_000  # lines answered in one process before workers are worth starting
IN_FLIGHT = 3  # tasks pending per worker: enough to keep each busy, little memory
# Blocks read while more input is waiting are sent together, up to this size: each task costs
# the parent a fixed hand-off to the pool's threads (measured: 1 MiB tasks take the parent's
# CPU per line from about 5 µs with 64 KiB blocks to under 1 µs).
TASK_BYTES = 1 << 20


def answer_block(answer: Answer, block: bytes) -> tuple[bytes, bool]:
    """The answers to a block of lines (`\\n` between them, none after the last), one line
    each with its `\\n`; and whether one was refused."""
    out = []
    refused = False
    for line in block.split(b"\n"):
        text, failed = answer(line)
        refused = refused or failed
        out.append(text)
    out.append("")
    # A lone surrogate a caller escaped in its JSON is written back escaped, never fatal.
    return "\n".join(out).encode("utf-8", "backslashreplace"), refused


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Forking copies only the calling thread: with other threads alive (a server, a test
    runner's helpers) a lock one of them holds would stay held in the workers forever."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def input_waiting(source: BinaryIO) -> Callable[[], bool]:
    """A test: is more input readable right now? (always, for a source without a descriptor,
    such as an in-memory buffer)."""
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError):
        return lambda: True
    return lambda: bool(select.select([fd], [], [], 0)[0])


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_ANSWER: Answer | None = None  # each worker's answerer, inherited through the fork


def _adopt(answer: Answer) -> None:
    global _ANSWER
    _ANSWER = answer


def _answer_here(block: bytes) -> tuple[bytes, bool]:
    if _ANSWER is None:  # set by _adopt in every worker before any task
        raise RuntimeError("answer_in_workers: a worker got a block before its answerer")
    return answer_block(_ANSWER, block)


def _tasks(blocks: Iterable[bytes], waiting: Callable[[], bool]) -> Iterator[bytes]:
    """The blocks, several joined into one task (up to `TASK_BYTES`) while more is waiting."""
    parts: list[bytes] = []
    size = 0
    for block in blocks:
        parts.append(block)
        size += len(block) + 1
        if size >= TASK_BYTES or not waiting():
            yield b"\n".join(parts)
            parts, size = [], 0
    if parts:
        yield b"\n".join(parts)


class WorkerLostError(DeconnexionError):
    """A worker process ended before answering its block (killed, out of memory): the answers
    before it are written, an error line follows them, and the command fails (exit 1)."""

    code = "worker_lost"


def answer_in_workers(
    answer: Answer,
    blocks: Iterable[bytes],
    sink: BinaryIO,
    workers: int,
    waiting: Callable[[], bool],
) -> bool:
    """Answer every block of `blocks` in `workers` forked processes, writing the answers to
    `sink` in order; whether a line was refused. A worker that dies raises `WorkerLostError`
    after one error line (a `multiprocessing.Pool` would wait for its answer forever)."""
    refused = False
    written = 0  # lines answered on `sink` by this call
    pending: deque[Future[tuple[bytes, bool]]] = deque()

    def write_oldest() -> None:
        nonlocal refused, written
        try:
            text, failed = pending.popleft().result()
        except BrokenProcessPool:
            for other in pending:
                other.cancel()
            lost = WorkerLostError(
                "a worker process ended before answering its lines (killed?): the answers of "
                f"the lines before them are written ({written} by the workers), the lines from "
                "there on are not answered"
            )
            sink.write(_encode(lost.to_dict()).encode() + b"\n")
            sink.flush()
            raise lost from None
        refused = refused or failed
        written += text.count(b"\n")
        sink.write(text)

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_adopt, initargs=(answer,)
    ) as pool:
        for task in _tasks(blocks, waiting):
            pending.append(pool.submit(_answer_here, task))
            if len(pending) >= IN_FLIGHT * workers:
                write_oldest()
            if not waiting():
                while pending:
                    write_oldest()
                sink.flush()
        while pending:
            write_oldest()
        sink.flush()
    return refused
