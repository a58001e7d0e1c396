"""One cache owner: every table in `CACHES`, one bound, the oldest entry dropped first."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import deconnexion
from deconnexion import Establishment, Policy, Scheduler
from deconnexion.core import scheduler as scheduler_module
from deconnexion.core.caches import BOUND, CACHES, CacheRegistry


def test_a_full_table_drops_its_oldest_entry_first():
    table = CacheRegistry(bound=3).table("t")
    for key in "abc":
        table.put(key, key.upper())
    assert table.get("a") == "A"  # reading does not make an entry younger
    table.put("d", "D")
    assert [table.get(k) for k in "abcd"] == [None, "B", "C", "D"]
    table.put("b", "B2")  # replacing an entry drops nothing
    assert len(table) == 3 and table.get("c") == "C"


def test_an_entry_is_built_once_even_when_threads_ask_together():
    table = CacheRegistry().table("t")
    built = []
    start = threading.Barrier(8)

    def build() -> str:
        built.append(1)
        return "value"

    def ask() -> None:
        start.wait()
        assert table.get_or_build("k", build) == "value"

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1]


def test_memoize_remembers_by_arguments_in_its_table():
    registry = CacheRegistry()
    calls = []

    @registry.memoize("squares")
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    assert registry.sizes() == {"squares": 2}
    registry.clear()
    assert square(3) == 9 and calls == [3, 4, 3]


def test_clear_cache_is_the_registry_clear_and_empties_every_table():
    assert scheduler_module.clear_cache == CACHES.clear
    Scheduler(Policy.national(), Establishment(uai="0750001A")).windows()
    assert CACHES.sizes()["compiled windows"] > 0
    scheduler_module.clear_cache()
    assert set(CACHES.sizes().values()) == {0}


def test_every_table_has_the_one_documented_bound():
    assert CACHES.bound == BOUND
    assert {"compiled windows", "calendar files", "calendar pieces"} <= set(CACHES.sizes())


def test_no_module_keeps_a_cache_of_its_own():
    root = Path(deconnexion.__file__).parent
    # functools' caches, and the module dicts with their own limit that CACHES replaced
    own = re.compile(r"lru_cache|functools\.cache\b|@cache\b|\b_CACHE\w*|\b_LIMIT\b")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "caches.py" and own.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
