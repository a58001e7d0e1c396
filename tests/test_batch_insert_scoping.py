"""A batch with collapse keys is now written at once (the unique index
`held_collapse` decides when to fall back to `plan_inserts`). Collapse keys must stay scoped
per establishment and sender exactly as before. These cases held on memory, SQLite and
PostgreSQL; kept because no existing test puts another sender's key through the batch path."""

from __future__ import annotations

from test_store_conformance import EST, T0, msg, states

from deconnexion.store.base import HoldStore


def test_a_collapse_key_held_by_another_sender_is_not_replaced_by_a_batch(
    store: HoldStore,
) -> None:
    store.insert_many([msg("a", collapse_key="c", key_scope="prof.a")], now=T0 - 300)
    second = [msg("b", collapse_key="c", key_scope="prof.b"), msg("n", collapse_key="fresh")]
    outcomes = store.insert_many(second, now=T0 - 200)
    assert [(o.outcome, o.replaced_id) for o in outcomes] == [("held", None), ("held", None)]
    assert states(store) == {"a": "held", "b": "held", "n": "held"}


def test_a_collapse_key_repeated_in_one_batch_by_two_senders_replaces_nothing(
    store: HoldStore,
) -> None:
    batch = [
        msg("a", collapse_key="c", key_scope="prof.a"),
        msg("b", collapse_key="c", key_scope="prof.b"),
        msg("c", collapse_key="c", key_scope="prof.a"),  # replaces a, never b
    ]
    outcomes = store.insert_many(batch, now=T0 - 200)
    assert [(o.outcome, o.replaced_id) for o in outcomes] == [
        ("held", None),
        ("held", None),
        ("replaced", batch[0].id),
    ]
    assert states(store) == {"a": "replaced", "b": "held", "c": "held"}


def test_anonymous_senders_repeating_a_collapse_key_in_one_batch_replace_nothing(
    store: HoldStore,
) -> None:
    store.insert_many([msg("a", collapse_key="c", key_scope=None)], now=T0 - 300)
    batch = [
        msg("b", collapse_key="c", key_scope=None),
        msg("c", collapse_key="c", key_scope=None),
    ]
    outcomes = store.insert_many(batch, now=T0 - 200)
    assert [(o.outcome, o.replaced_id) for o in outcomes] == [("held", None), ("held", None)]
    assert states(store) == {"a": "held", "b": "held", "c": "held"}


def test_a_collapse_key_of_another_establishment_is_not_replaced(store: HoldStore) -> None:
    other = "0750002B"
    store.insert_many([msg("a", est=other, collapse_key="c")], now=T0 - 300)
    outcomes = store.insert_many([msg("b", collapse_key="c")], now=T0 - 200)
    assert [(o.outcome, o.replaced_id) for o in outcomes] == [("held", None)]
    assert states(store, other) == {"a": "held"} and states(store, EST) == {"b": "held"}


def test_an_idempotency_key_of_another_sender_in_a_batch_with_collapse_keys_is_new(
    store: HoldStore,
) -> None:
    store.insert_many([msg("k", collapse_key="c1", key_scope="prof.a")], now=T0 - 300)
    outcomes = store.insert_many([msg("k", collapse_key="c2", key_scope="prof.b")], now=T0 - 200)
    assert [o.outcome for o in outcomes] == ["held"]
    assert sorted(m.key_scope or "" for m in store.list(EST, limit=10)) == ["prof.a", "prof.b"]
