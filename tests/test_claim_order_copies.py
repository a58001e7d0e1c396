"""Claims sorted by SQL instead of a Python key, and a claimed batch's
decisions copied from one parsed template (`FreshCopies`). Both held on memory, SQLite and
PostgreSQL; kept because they go through each store's claim, not the codec alone."""

from __future__ import annotations

import random

from test_store_conformance import T0, msg

from deconnexion.store.base import HoldStore


def test_a_claim_comes_in_release_priority_seq_order_whatever_the_insert_order(
    store: HoldStore,
) -> None:
    rng = random.Random(7)
    batch = []
    for n in range(40):
        urgent = rng.random() < 0.3
        kind = rng.choice(["grade", "absence", "homework"])
        batch.append(
            msg(f"k{n}", release_at=T0 - rng.choice([0, 10, 20]), kind=kind, urgent=urgent)
        )
    store.insert_many(batch[:20], now=T0 - 36_000)
    store.insert_many(batch[20:], now=T0 - 36_000)
    claimed = store.claim_due(T0, 100, 60, "w")
    assert len(claimed) == 40
    keys = [(m.release_at, m.priority, m.seq) for m in claimed]
    assert keys == sorted(keys)


def test_claimed_messages_sharing_a_decision_share_no_container(store: HoldStore) -> None:
    decision = {
        "held": True,
        "timezone": "Europe/Paris",
        "reasons": [{"code": "night", "label_fr": "nuit", "label_en": "night"}],
        "window": {"ends": [1, 2, {"deep": [3]}]},
        "empty": [],
    }
    meta = {"http": {"headers": [["x-a", "1"]]}}
    batch = [msg(f"d{n}", decision=decision, meta=meta) for n in range(4)]
    store.insert_many(batch, now=T0 - 36_000)
    claimed = store.claim_due(T0, 10, 60, "w")
    assert len(claimed) == 4 and all(m.decision == decision for m in claimed)
    first, *others = claimed
    first.decision["reasons"][0]["code"] = "changed"
    first.decision["window"]["ends"][2]["deep"].append(4)
    first.decision["empty"].append("x")
    first.decision["timezone"] = "UTC"
    first.meta["http"]["headers"][0].append("2")
    for m in others:
        assert m.decision == decision and m.meta == meta
    last = others[-1]
    last.decision["reasons"].clear()
    assert others[0].decision == decision
    assert batch[0].decision == decision  # what was inserted is untouched too
