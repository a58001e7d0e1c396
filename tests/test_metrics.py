"""Prometheus text: one writer (deconnexion/metrics.py) for the store's state and the worker's
counters, in the exposition format's shape."""

from __future__ import annotations

from pathlib import Path

import deconnexion
from deconnexion.metrics import family, prometheus_text, worker_prometheus_text
from deconnexion.store.base import Stats


def test_a_family_is_help_then_type_then_one_line_per_sample_with_escaped_labels():
    assert family("x_total", "counter", "Things.", [({"who": 'a"b\\c\nd'}, 2), ({}, 3)]) == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{who="a\\"b\\\\c\\nd"} 2',
        "x_total 3",
    ]


def test_store_metrics_count_held_messages_by_reason_and_state_and_the_oldest_age():
    stats = Stats(None, 3, {"night": 3, "weekend": 1}, {"held": 3, "dead": 1}, 100.0, None)
    text = prometheus_text(stats, now=160.5)
    assert text.endswith("\n")
    assert "deconnexion_held_messages 3\n" in text
    assert 'deconnexion_held_by_reason{reason="weekend"} 1\n' in text
    assert 'deconnexion_messages{state="dead"} 1\n' in text
    assert "deconnexion_oldest_held_age_seconds 60.500\n" in text


def test_worker_metrics_label_every_counter_with_the_worker_id():
    counters = dict.fromkeys(
        [
            "claimed",
            "released",
            "failed",
            "dead",
            "deferred",
            "early_skipped",
            "waited_for_students",
            "digests",
        ],
        1,
    )
    text = worker_prometheus_text("w1", {**counters, "batches": 4, "last_batch_at": None})
    assert 'deconnexion_worker_batches_total{worker="w1"} 4\n' in text
    assert "# TYPE deconnexion_worker_early_skipped_total counter\n" in text
    assert 'deconnexion_worker_waited_for_students_total{worker="w1"} 1\n' in text
    assert 'deconnexion_worker_last_batch_timestamp_seconds{worker="w1"} 0\n' in text


def test_no_other_module_writes_prometheus_text():
    root = Path(deconnexion.__file__).parent
    writers = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "# TYPE" in path.read_text(encoding="utf-8")
    }
    assert writers == {"metrics.py"}
