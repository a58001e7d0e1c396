"""HoldQueue: validation before any write, tenant scoping, urgent audit, reschedule from a
Scheduler, and a store file that is not a database."""

from __future__ import annotations

import gc
import sqlite3
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from deconnexion.core.message import (
    Audience,
    Decision,
    Kind,
    Message,
    Provenance,
    Reason,
    ReasonCode,
    SenderRole,
)
from deconnexion.core.policy import Closure, Policy
from deconnexion.core.scheduler import Scheduler
from deconnexion.core.territories import Establishment
from deconnexion.errors import (
    InvalidInputError,
    MissingExtraError,
    NaiveDatetimeError,
    NotADatabaseError,
    PayloadError,
    StoreError,
)
from deconnexion.hold.queue import GC_PAUSE_BATCH, HoldQueue, HoldRequest
from deconnexion.store import MemoryStore, open_store
from deconnexion.store.base import HoldStore

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
FRIDAY_21H = datetime(2025, 11, 7, 21, 0, tzinfo=PARIS)
MONDAY_7H = datetime(2025, 11, 10, 7, 0, tzinfo=PARIS)
LYCEE = Establishment(uai="0750001A")
OTHER = Establishment(uai="0671234X")
NIGHT = Reason(ReasonCode.NIGHT, "Nuit", "Night")
NOW = FRIDAY_21H.timestamp() + 60


def grade(created_at: datetime = FRIDAY_21H, **kw: Any) -> Message:
    return Message(kind=Kind.GRADE, audience=Audience.STUDENTS, created_at=created_at, **kw)


def decision(message: Message, release_at: datetime = MONDAY_7H, **kw: Any) -> Decision:
    fields: dict[str, Any] = dict(
        held=True,
        release_at=release_at,
        created_at=message.created_at,
        audience=message.audience,
        kind=message.kind,
        reasons=(NIGHT,),
        provenance=Provenance.OFFICIAL,
    )
    fields.update(kw)
    return Decision(**fields)


def request(key: str, payload: Any = None, **kw: Any) -> HoldRequest:
    m = kw.pop("message", None) or grade()
    fields: dict[str, Any] = dict(
        establishment=LYCEE,
        message=m,
        decision=kw.pop("decision", None) or decision(m),
        payload={"note": 14} if payload is None else payload,
        idempotency_key=key,
        recipients=("eleve:1",),
    )
    fields.update(kw)
    return HoldRequest(**fields)


@pytest.fixture
def queue() -> HoldQueue:
    return HoldQueue(MemoryStore(), clock=lambda: NOW)


def hold_ten(queue: HoldQueue) -> list[str]:
    return [r.id for r in queue.hold_many([request(f"k{i}") for i in range(10)])]


# -- holding --------------------------------------------------------------------------------------


def test_a_grade_at_21h_friday_is_held_until_monday_7h_in_local_time(store: HoldStore) -> None:
    queue = HoldQueue(store, clock=lambda: NOW)
    m = grade()
    result = queue.hold(
        establishment=LYCEE,
        message=m,
        decision=decision(m),
        payload={"eleve": "Lou", "note": 14},
        recipients="eleve:1",
        idempotency_key="note-1",
        actor="prof.martin",
    )
    assert (result.outcome, result.release_at) == ("held", MONDAY_7H)
    assert result.release_at.tzinfo == PARIS
    held = queue.get(LYCEE, result.id)
    assert held is not None
    assert held.payload == b'{"eleve":"Lou","note":14}'
    assert (held.content_type, held.recipients) == ("application/json", ("eleve:1",))
    assert (held.kind, held.priority, held.reasons, held.actor) == (
        "grade",
        2,
        ("night",),
        "prof.martin",
    )
    assert held.decision["release_at"] == MONDAY_7H.isoformat()


def test_payload_kinds_get_their_content_type(queue: HoldQueue) -> None:
    results = queue.hold_many(
        [
            request("bytes", b"\x00raw"),
            request("text", "Bonjour à tous"),
            request("list", [1, "deux"]),
            request("dict", {"élève": "Zoé", "note": 14.5, "sur": 20, "ok": None}),
            request("own", b"<p/>", content_type="text/html"),
        ]
    )
    got = [queue.get(LYCEE, r.id) for r in results]
    assert [(m.payload, m.content_type) for m in got if m] == [
        (b"\x00raw", "application/octet-stream"),
        ("Bonjour à tous".encode(), "text/plain; charset=utf-8"),
        (b'[1,"deux"]', "application/json"),
        ('{"élève":"Zoé","note":14.5,"sur":20,"ok":null}'.encode(), "application/json"),
        (b"<p/>", "text/html"),
    ]


def test_same_idempotency_key_is_held_once_and_collapse_key_keeps_the_last(
    queue: HoldQueue,
) -> None:
    first = queue.hold_many([request("note-1", collapse_key="note:lou")])[0]
    again = queue.hold_many([request("note-1", collapse_key="note:lou")])[0]
    fixed = queue.hold_many([request("note-1-bis", collapse_key="note:lou")])[0]
    assert (again.outcome, again.id) == ("duplicate", first.id)
    assert (fixed.outcome, fixed.replaced_id) == ("replaced", first.id)
    assert [m.state for m in queue.list(LYCEE)] == ["replaced", "held"]


def test_urgent_and_timetable_messages_get_the_first_priority(queue: HoldQueue) -> None:
    tt = Message(kind=Kind.TIMETABLE, audience=Audience.STUDENTS, created_at=FRIDAY_21H)
    absence = Message(kind=Kind.ABSENCE, audience=Audience.STUDENTS, created_at=FRIDAY_21H)
    urgent = grade(urgent=True, justification="alerte")
    results = queue.hold_many(
        [request("tt", message=tt), request("abs", message=absence), request("u", message=urgent)]
    )
    assert [queue.get(LYCEE, r.id).priority for r in results] == [0, 1, 0]  # type: ignore[union-attr]


def test_an_establishment_key_string_works_like_the_establishment(queue: HoldQueue) -> None:
    r = queue.hold_many([request("a", establishment="0750001A")])[0]
    assert queue.get(LYCEE, r.id) is not None
    assert r.release_at == MONDAY_7H


def test_release_times_are_given_in_the_establishment_time_zone(queue: HoldQueue) -> None:
    reunion = Establishment(uai="9741234A")
    m = grade(datetime(2025, 11, 7, 21, 0, tzinfo=REUNION))
    d = decision(m, datetime(2025, 11, 10, 7, 0, tzinfo=REUNION), timezone="Indian/Reunion")
    r = queue.hold_many([request("a", establishment=reunion, message=m, decision=d)])[0]
    assert r.release_at.tzinfo == REUNION and r.release_at.hour == 7


# -- refusing bad input, writing nothing ----------------------------------------------------------


def test_a_naive_release_time_is_refused(queue: HoldQueue) -> None:
    m = grade()
    with pytest.raises(NaiveDatetimeError, match=r"decision\.release_at"):
        queue.hold_many([request("a", decision=decision(m, datetime(2025, 11, 10, 7, 0)))])
    with pytest.raises(NaiveDatetimeError, match="created_at"):
        grade(datetime(2025, 11, 7, 21, 0))


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({1, 2}, "set is not accepted"),
        ({"when": datetime(2025, 1, 1, tzinfo=PARIS)}, "cannot be written as JSON"),
        ({"x": float("nan")}, "cannot be written as JSON"),
        ("\ud800", "cannot be encoded as UTF-8"),
        (b"x" * (1024 * 1024 + 1), "1,048,577 bytes is over the limit"),
        ({"x": "y" * (1024 * 1024)}, "1,048,584 bytes is over the limit"),
        (_circular(), "Circular reference detected"),
    ],
)
def test_a_payload_that_cannot_be_stored_is_refused_by_name(
    queue: HoldQueue, payload: Any, match: str
) -> None:
    with pytest.raises(PayloadError, match=match) as caught:
        queue.hold_many([request("ok"), request("bad", payload)])
    assert str(caught.value).startswith("requests[1].payload: ")
    assert "nothing of this batch of 2 was held" in str(caught.value)
    assert queue.list(LYCEE) == []


def test_the_payload_limit_is_configurable() -> None:
    small = HoldQueue(MemoryStore(), clock=lambda: NOW, max_payload_bytes=10)
    with pytest.raises(PayloadError, match="payload: 11 bytes"):
        small.hold(**_kwargs(request("a", b"x" * 11)))


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"idempotency_key": ""}, InvalidInputError, "idempotency_key: expected a non-empty"),
        ({"idempotency_key": "   "}, InvalidInputError, "idempotency_key"),
        ({"idempotency_key": None}, InvalidInputError, "idempotency_key"),
        ({"collapse_key": ""}, InvalidInputError, "collapse_key"),
        ({"establishment": ""}, InvalidInputError, "is not an establishment key"),
        ({"establishment": " 0750001A"}, InvalidInputError, "is not an establishment key"),
        ({"establishment": "a\nb"}, InvalidInputError, "is not an establishment key"),
        ({"establishment": 750001}, InvalidInputError, "expected an Establishment"),
        ({"recipients": [""]}, InvalidInputError, r"recipients\[0\]"),
        ({"recipients": 42}, InvalidInputError, "recipients: expected a list"),
        ({"meta": {"x": object()}}, PayloadError, "meta: cannot be written as JSON"),
        ({"meta": {1: "x"}}, PayloadError, "meta: expected a dict with string keys"),
        ({"message": "hello"}, InvalidInputError, "message: expected a deconnexion Message"),
        ({"decision": {"held": True}}, InvalidInputError, "decision: expected the Decision"),
    ],
)
def test_bad_fields_are_refused_by_name_and_nothing_is_written(
    queue: HoldQueue, change: dict[str, Any], error: type[Exception], match: str
) -> None:
    good = request("good")
    fields = _kwargs(good) | change
    with pytest.raises(error, match=match):
        queue.hold_many([good, HoldRequest(**fields)])
    with pytest.raises(error, match=match):
        queue.hold(**fields)
    assert queue.list(LYCEE) == []


def test_a_decision_made_for_another_message_is_refused(queue: HoldQueue) -> None:
    parents = Message(kind=Kind.GRADE, audience=Audience.PARENTS, created_at=FRIDAY_21H)
    with pytest.raises(InvalidInputError, match="made for a grade to parents"):
        queue.hold(**_kwargs(request("a", decision=decision(parents))))


def _kwargs(r: HoldRequest) -> dict[str, Any]:
    return {f: getattr(r, f) for f in HoldRequest.__dataclass_fields__}


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    good = tmp_path / "held.db"
    queue = HoldQueue(open_store(f"sqlite:///{good}"), clock=lambda: NOW)
    ids = hold_ten(queue)
    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"Conseil de classe du 3e trimestre\n" * 200)
    before = junk.read_bytes()
    with pytest.raises(NotADatabaseError, match=r"notes\.txt' is not a SQLite database"):
        open_store(f"sqlite:///{junk}")
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(NotADatabaseError, match=r"not a deconnexion hold store .*users"):
        open_store(f"sqlite:///{other}")
    with pytest.raises(PayloadError):
        queue.hold_many([request("bad", {1})])
    with pytest.raises(NaiveDatetimeError):
        queue.hold_many([request("naive", decision=decision(grade(), datetime(2025, 11, 10)))])
    assert junk.read_bytes() == before
    queue.store.close()
    reopened = HoldQueue(open_store(f"sqlite:///{good}"))
    assert [m.id for m in reopened.list(LYCEE)] == ids
    assert reopened.stats(LYCEE).held == 10
    reopened.store.close()


def test_a_postgres_schema_holding_other_tables_is_refused(pg_schema: tuple[str, str]) -> None:
    import psycopg

    dsn, schema = pg_schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".users (id int)')
    with pytest.raises(NotADatabaseError, match="not a deconnexion hold store"):
        open_store(f"{dsn}?schema={schema}")


@pytest.mark.parametrize(
    "url", ["redis://localhost", "held.db", "sqlite://", "sqlite:///", "", "mysql://x/y"]
)
def test_an_unknown_store_url_names_the_accepted_ones(url: str) -> None:
    with pytest.raises(InvalidInputError, match="sqlite:///") as caught:
        open_store(url)
    assert repr(url) in str(caught.value)


def test_open_store_picks_the_backend_from_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deconnexion.store.sqlite import SQLiteStore

    assert isinstance(open_store("memory://"), MemoryStore)
    for url in ("sqlite:///:memory:", f"sqlite:///{tmp_path}/a.db"):
        store = open_store(url)
        assert isinstance(store, SQLiteStore)
        store.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    relative.close()
    assert (tmp_path / "rel.db").exists()


def test_postgres_urls_open_a_postgres_store_in_the_given_schema(
    pg_schema: tuple[str, str],
) -> None:
    from deconnexion.store.postgres import PostgresStore

    dsn, schema = pg_schema
    for url in (
        f"{dsn}?schema={schema}",
        f"{dsn.replace('postgresql', 'postgres', 1)}?schema={schema}",
    ):
        store = open_store(url)
        assert isinstance(store, PostgresStore) and store.schema == schema
        store.close()


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    monkeypatch.delitem(sys.modules, "deconnexion.store.postgres", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'deconnexion\[postgres\]'"):
        open_store("postgresql://postgres@127.0.0.1/postgres")


def test_a_sqlite_path_in_a_missing_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="the folder must exist"):
        open_store(f"sqlite:///{tmp_path}/missing/held.db")


# -- one establishment at a time ------------------------------------------------------------------


def test_another_establishment_s_message_is_not_found(store: HoldStore) -> None:
    queue = HoldQueue(store, clock=lambda: NOW)
    (mine,) = queue.hold_many([request("a", establishment=OTHER)])
    assert queue.get(LYCEE, mine.id) is None
    assert queue.cancel(LYCEE, mine.id, "intrus") is False
    assert queue.release_now(LYCEE, mine.id, "intrus") is False
    assert queue.list(LYCEE) == [] and queue.audit(LYCEE) == []
    assert queue.stats(LYCEE).held == 0 and queue.stats(OTHER).held == 1


def test_cancel_release_now_and_audit(queue: HoldQueue) -> None:
    a, b = (r.id for r in queue.hold_many([request("a"), request("b")]))
    assert queue.cancel(LYCEE, a, "prof.martin") is True
    assert queue.release_now(LYCEE, b, "principal") is True
    assert queue.due_soonest() == datetime.fromtimestamp(NOW, ZoneInfo("UTC"))
    actions = [(e.action, e.actor) for e in queue.audit(LYCEE, since=MONDAY_7H - timedelta(days=9))]
    assert actions == [
        ("hold", None),
        ("hold", None),
        ("cancel", "prof.martin"),
        ("release_now", "principal"),
    ]
    with pytest.raises(NaiveDatetimeError, match="since"):
        queue.audit(LYCEE, since=datetime(2025, 1, 1))


def test_list_refuses_unknown_states_and_limits(queue: HoldQueue) -> None:
    hold_ten(queue)
    assert len(queue.list(LYCEE, states="held", limit=3)) == 3
    with pytest.raises(InvalidInputError, match="'waiting' is not a state"):
        queue.list(LYCEE, states=["waiting"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="limit"):
        queue.list(LYCEE, limit=0)


def test_urgent_overrides_and_refusals_are_audited_with_who_and_why(queue: HoldQueue) -> None:
    urgent = Message(
        kind=Kind.ANNOUNCEMENT,
        audience=Audience.PARENTS,
        created_at=FRIDAY_21H,
        sender_role=SenderRole.CHEF_ETABLISSEMENT,
        urgent=True,
        justification="Fermeture du collège demain : alerte météo",
    )
    queue.record_override(establishment=LYCEE, message=urgent, actor="principal")
    teacher = grade(sender_role=SenderRole.TEACHER, urgent=True, justification="vite")
    (held,) = queue.hold_many([request("t", message=teacher)])
    queue.record_refusal(
        establishment=LYCEE, message=teacher, actor="prof.martin", message_id=held.id
    )
    entries = queue.audit(LYCEE)
    override = next(e for e in entries if e.action == "urgent_override")
    refusal = next(e for e in entries if e.action == "urgent_refused")
    assert (override.actor, override.at, override.message_id) == ("principal", NOW, None)
    assert override.detail["justification"] == "Fermeture du collège demain : alerte météo"
    assert override.detail["sender_role"] == "chef_etablissement"
    assert (refusal.actor, refusal.message_id) == ("prof.martin", held.id)
    assert queue.audit(OTHER) == []


# -- reschedule -----------------------------------------------------------------------------------


def test_a_closure_added_on_monday_moves_held_messages_and_leaves_released_ones(
    store: HoldStore,
) -> None:
    clock = [NOW]
    queue = HoldQueue(store, clock=lambda: clock[0])
    national = Scheduler(Policy.national(), LYCEE)
    messages = [grade(FRIDAY_21H + timedelta(minutes=i)) for i in range(3)]
    results = queue.hold_many(
        [request(f"n{i}", message=m, decision=national.decide(m)) for i, m in enumerate(messages)]
    )
    assert {r.release_at for r in results} == {MONDAY_7H}
    (sent,) = store.claim_due(MONDAY_7H.timestamp(), 1, 60, "w")
    store.ack([sent.id], "w", MONDAY_7H.timestamp())
    closed_monday = Policy.national().model_copy(
        update={"closures": (Closure(start=date(2025, 11, 10)),)}
    )
    clock[0] = MONDAY_7H.timestamp() + 60
    moved = queue.reschedule(LYCEE, Scheduler(closed_monday, LYCEE), actor="admin")
    assert moved == 2
    wednesday = datetime(2025, 11, 12, 7, 0, tzinfo=PARIS)  # Tuesday 11 is a public holiday
    by_id = {m.id: m for m in queue.list(LYCEE)}
    assert by_id[sent.id].state == "released"
    assert by_id[sent.id].released_at == MONDAY_7H.timestamp()
    still = [m for m in by_id.values() if m.state == "held"]
    assert {m.release_at for m in still} == {wednesday.timestamp()}
    assert all("closure" in m.reasons for m in still)
    assert store.claim_due(wednesday.timestamp() - 1, 10, 60, "w") == []
    changes = [e for e in queue.audit(LYCEE) if e.action == "reschedule"]
    assert [(e.actor, e.detail["to"]) for e in changes] == [("admin", wednesday.timestamp())] * 2
    assert queue.reschedule(LYCEE, Scheduler(closed_monday, LYCEE)) == 0  # already right


def test_a_held_message_records_when_its_release_window_closes(store: HoldStore) -> None:
    # The worker's storm smoothing never plans a delivery after `open_until`: a Monday-07:00
    # backlog is spread inside Monday's open hours, never into Monday night.
    school = Establishment(uai="0750001A")
    message = Message(kind=Kind.MESSAGE, audience=Audience.PARENTS, created_at=FRIDAY_21H)
    d = Scheduler(Policy.national(), school).decide(message)
    assert d.open_until == datetime(2025, 11, 10, 20, 0, tzinfo=PARIS)
    q = HoldQueue(store)
    result = q.hold(
        establishment=school, message=message, decision=d, payload={"t": 1}, idempotency_key="w"
    )
    held = q.get(school, result.id)
    assert held is not None and held.meta["open_until"] == d.open_until.timestamp()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_big_batch_leaves_the_cycle_collector_as_it_found_it(
    queue: HoldQueue, enabled: bool
) -> None:
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        queue.hold_many([request(f"k{n}") for n in range(GC_PAUSE_BATCH)])
        assert gc.isenabled() is enabled
        bad = [request(f"b{n}") for n in range(GC_PAUSE_BATCH)] + [request("x", {1, 2})]
        with pytest.raises(PayloadError):
            queue.hold_many(bad)
        assert gc.isenabled() is enabled
        assert len(queue.list(LYCEE, limit=10_000)) == GC_PAUSE_BATCH
    finally:
        if was:
            gc.enable()
