"""`--stdin` on every core: blocks of lines answered by worker processes, written in order.

The parent reads blocks of whole lines, routes them and writes answers; each line is answered by
a worker with the same answerer as in one process (`answer_block`, `answer_block_lines`), so the
bytes written are the same. Workers are forked: they start with the parent's modules,
schedulers and compiled calendars, nothing is imported or compiled again. A short input is not
worth the workers: the command answers in one process and starts them only after
`PARALLEL_AFTER` lines, when more input is already waiting (`batch.answer_lines`); `--workers 1`
keeps one process.

Routing: a worker remembers what it learns (cli/lean.py remembers `release` answers per span of
a local day), so a line goes to the worker that has likely learnt its answer already: the caller's
`worker_of` names it (for `release`, the day of the month of the line's creation: lines of one
date go to one worker, and no span is learnt twice); each task is split by it and the answers
merged back in the lines' order (`_split`, `_merge`). Without `worker_of`, each task goes whole
to the next worker in turn.

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
from contextlib import ExitStack
from typing import BinaryIO

from deconnexion.errors import DeconnexionError

__all__ = [
    "IN_FLIGHT",
    "PARALLEL_AFTER",
    "Answer",
    "WorkerLostError",
    "WorkerOf",
    "answer_block",
    "answer_block_lines",
    "answer_in_workers",
    "can_fork",
    "input_waiting",
    "usable_cores",
]

Answer = Callable[[bytes], tuple[str, bool]]
WorkerOf = Callable[[bytes], int]  # a line → a number, taken modulo the number of workers

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


def answer_block_lines(answer: Answer, block: bytes) -> tuple[list[bytes], bool]:
    """`answer_block`'s answers, each its own bytes without its newline: a routed part's, which
    the parent merges by lines without splitting their text again (measured, callgrind:
    splitting the answers' text cost the parent 2,700 instructions a line)."""
    out = []
    refused = False
    for line in block.split(b"\n"):
        text, failed = answer(line)
        refused = refused or failed
        out.append(text.encode("utf-8", "backslashreplace"))
    return out, refused


def _answer_lines_here(block: bytes) -> tuple[list[bytes], bool]:
    if _ANSWER is None:  # set by _adopt in every worker before any task
        raise RuntimeError("answer_in_workers: a worker got a block before its answerer")
    return answer_block_lines(_ANSWER, block)


def _split(task: bytes, workers: int, worker_of: WorkerOf) -> tuple[list[bytes | None], list[int]]:
    """The lines of `task` for each worker (None: no line), and the worker of each line."""
    lines = task.split(b"\n")
    order = [worker_of(line) % workers for line in lines]
    parts: list[list[bytes]] = [[] for _ in range(workers)]
    for k, line in zip(order, lines, strict=True):
        parts[k].append(line)
    return [b"\n".join(part) if part else None for part in parts], order


def _merge(order: list[int], answered: list[list[bytes] | None]) -> bytes:
    """The workers' answers (each a list, in its lines' order) back in the order of the lines,
    one line each with its newline."""
    lines = [iter(part).__next__ if part is not None else None for part in answered]
    out = [lines[k]() for k in order]  # type: ignore[misc]  # a worker of a line has a part
    out.append(b"")
    return b"\n".join(out)


class WorkerLostError(DeconnexionError):
    """A worker process ended before answering its block (killed, out of memory): the answers
    before it are written, an error line follows them, and the command fails (exit 1)."""

    code = "worker_lost"


class _Pending:
    """One task in flight: its number of lines, and either the future of the whole task or the
    futures of its parts (None: no line for that worker) with the worker of each line."""

    __slots__ = ("lines", "order", "parts", "whole")

    def __init__(
        self,
        lines: int,
        whole: Future[tuple[bytes, bool]] | None = None,
        parts: list[Future[tuple[list[bytes], bool]] | None] | None = None,
        order: list[int] | None = None,
    ) -> None:
        self.lines = lines
        self.whole = whole
        self.parts = parts or []
        self.order = order or []

    def result(self) -> tuple[bytes, bool]:
        if self.whole is not None:
            return self.whole.result()
        answered = [None if f is None else f.result() for f in self.parts]
        refused = any(a is not None and a[1] for a in answered)
        return _merge(self.order, [None if a is None else a[0] for a in answered]), refused

    def cancel(self) -> None:
        for f in (self.whole, *self.parts):
            if f is not None:
                f.cancel()


def answer_in_workers(
    answer: Answer,
    blocks: Iterable[bytes],
    sink: BinaryIO,
    workers: int,
    waiting: Callable[[], bool],
    worker_of: WorkerOf | None = None,
) -> bool:
    """Answer every block of `blocks` in `workers` forked processes, writing the answers to
    `sink` in order; whether a line was refused. Each line goes to worker `worker_of(line) %
    workers`; without `worker_of`, each task to the next worker in turn. A worker that dies
    raises `WorkerLostError` after one error line (a `multiprocessing.Pool` would wait for its
    answer forever)."""
    refused = False
    written = 0  # lines answered on `sink` by this call
    pending: deque[_Pending] = deque()

    def write_oldest() -> None:
        nonlocal refused, written
        try:
            oldest = pending.popleft()
            text, failed = oldest.result()
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
        written += oldest.lines
        sink.write(text)

    context = multiprocessing.get_context("fork")
    with ExitStack() as stack:
        # One pool of one process per worker: a task's part goes to the worker chosen for it.
        pools = [
            stack.enter_context(
                ProcessPoolExecutor(1, mp_context=context, initializer=_adopt, initargs=(answer,))
            )
            for _ in range(workers)
        ]
        turn = 0
        in_flight = IN_FLIGHT * workers if worker_of is None else IN_FLIGHT  # tasks per worker
        for task in _tasks(blocks, waiting):
            if worker_of is None:
                whole = pools[turn].submit(_answer_here, task)
                turn = (turn + 1) % workers
                pending.append(_Pending(task.count(b"\n") + 1, whole=whole))
            else:
                parts, order = _split(task, workers, worker_of)
                futures = [
                    None if part is None else pool.submit(_answer_lines_here, part)
                    for pool, part in zip(pools, parts, strict=True)
                ]
                pending.append(_Pending(len(order), parts=futures, order=order))
            if len(pending) >= in_flight:
                write_oldest()
            if not waiting():
                while pending:
                    write_oldest()
                sink.flush()
        while pending:
            write_oldest()
        sink.flush()
    return refused
