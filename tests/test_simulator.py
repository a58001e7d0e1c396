"""The simulator: realistic traffic, and the invariants of a run through the real queue and
worker on a simulated clock (nothing in a quiet window, each held message released exactly
once, the summary's counts equal to the store's, same seed → same run)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from deconnexion.core.message import Audience, Kind
from deconnexion.store import open_store
from examples.simulator.cli import simulate_main
from examples.simulator.report import render
from examples.simulator.run import RunOptions, SimulationRun, simulate
from examples.simulator.summary import delivered_times, summarize
from examples.simulator.traffic import TrafficConfig, establishments_for, generate

# Two weeks of school, the Toussaint holidays and the week after: every kind of quiet window.
SMALL = TrafficConfig(start=date(2025, 10, 6), end=date(2025, 11, 9), messages=1500, seed=7)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim") / "simulation.db"


@pytest.fixture(scope="module")
def run(db: Path) -> SimulationRun:
    return simulate(SMALL, options=RunOptions(store_url=f"sqlite:///{db}"), progress=False)


@pytest.fixture(scope="module")
def summary(run: SimulationRun) -> dict[str, object]:
    return summarize(run)


def local(run: SimulationRun, t: float) -> datetime:
    return datetime.fromtimestamp(t, next(iter(run.schedulers.values())).tz)


# -- the invariants ----------------------------------------------------------------------------


def test_nothing_is_released_inside_a_quiet_window(run: SimulationRun) -> None:
    index = run.index_of
    assert run.deliveries, "the worker delivered nothing"
    for when, ids, _digest in run.deliveries:
        for sid in ids:
            m = run.messages[index[sid]]
            sched = run.schedulers[m.establishment]
            assert not sched.is_quiet(local(run, when), audience=m.audience), (m, local(run, when))
            assert when >= run.releases[index[sid]]


def test_every_held_message_is_released_exactly_once_by_the_end(run: SimulationRun) -> None:
    _at, count = delivered_times(run)
    held = [i for i in range(len(run.messages)) if run.held[i]]
    assert len(held) > 500
    for i in held:
        expected = 0 if run.store_ids[i] in run.replaced_ids else 1
        assert count[i] == expected, run.messages[i]
    assert run.stats.held == 0
    assert set(run.stats.by_state) <= {"released", "replaced"}


def test_summary_counts_equal_the_store(run: SimulationRun, summary: dict, db: Path) -> None:
    assert summary["store_check"]["ok"], summary["store_check"]
    store = open_store(f"sqlite:///{db}")
    try:
        states = store.stats().by_state
    finally:
        store.close()
    assert states.get("released", 0) == summary["exactly_once"]["held_not_replaced"]
    assert states.get("replaced", 0) == summary["replaced"]
    assert sum(states.values()) == summary["messages"]["held"]
    assert summary["ok"]


def test_summary_checks_pass_and_explain(summary: dict) -> None:
    assert summary["quiet_window_check"] == {
        "released_in_quiet_window": 0,
        "released_early": 0,
        "examples": [],
        "ok": True,
    }
    assert summary["exactly_once"]["ok"]
    grades = summary["grades_to_parents"]
    assert grades["share"] == 1.0 and grades["short"] == 0 and grades["ok"]
    assert grades["min_gap_hours"] >= 24.0
    assert grades["planned_compliant"] == grades["pairs"]
    assert summary["urgent"]["honoured"] >= 1 and summary["urgent"]["refused"] >= 1
    assert summary["replaced"] >= 2  # a grade corrected twice, to students and to parents
    json.dumps(summary)


def test_the_parents_gap_is_measured_on_actual_deliveries(run: SimulationRun) -> None:
    # each parents' grade goes at least the policy's delay after its students' copy did
    index = run.index_of
    sent: dict[str, float] = {}
    for when, ids, _digest in run.deliveries:
        for sid in ids:
            sent[sid] = when
    delay = run.policy.grade_parent_delay.total_seconds()
    checked = 0
    for i, m in enumerate(run.messages):
        sid = run.store_ids[i]
        if m.kind is not Kind.GRADE or m.audience is not Audience.PARENTS or sid not in sent:
            continue
        leader = run.store_ids[i - 1]
        if leader in sent and run.messages[i - 1].audience is Audience.STUDENTS:
            assert sent[sid] >= sent[leader] + delay, (m, index[sid])
            checked += 1
    assert checked > 100


def test_a_parents_grade_delivered_too_soon_fails_the_check(run: SimulationRun) -> None:
    grades = summarize(run)["grades_to_parents"]
    pairs = {
        run.store_ids[i]: run.store_ids[i - 1]
        for i, m in enumerate(run.messages)
        if m.kind is Kind.GRADE and m.audience is Audience.PARENTS and run.held[i - 1]
    }
    sent = {sid: when for when, ids, _ in run.deliveries for sid in ids}
    parents = next(p for p, s in pairs.items() if p in sent and s in sent)
    early = sent[pairs[parents]] + 23 * 3600.0  # one hour short
    changed = [(early if ids == (parents,) else when, ids, d) for when, ids, d in run.deliveries]
    short = summarize(dataclasses.replace(run, deliveries=changed))
    g = short["grades_to_parents"]
    assert (g["short"], g["ok"], short["ok"]) == (1, False, False)
    assert g["compliant"] == grades["compliant"] - 1
    assert "23 h 00 min 00 s" in g["short_examples"][0]


def test_every_message_got_what_decide_says(run: SimulationRun) -> None:
    # the run takes a fast path for open-hours messages; it must agree with decide()
    for i, m in enumerate(run.messages):
        sched = run.schedulers[m.establishment]
        decision = sched.decide(m.to_message(sched.tz))
        assert (run.held[i], run.releases[i]) == (
            decision.held,
            decision.release_at.timestamp(),
        ), m
        if decision.held:
            assert run.reasons[i] == decision.codes


def test_smoothing_lowers_the_peak_minute(summary: dict) -> None:
    peak = summary["peak_minute"]
    assert peak["with_smoothing"]["count"] < peak["without_smoothing"]["count"]


def test_same_seed_same_run(run: SimulationRun, tmp_path: Path) -> None:
    again = simulate(
        SMALL, options=RunOptions(store_url=f"sqlite:///{tmp_path / 'again.db'}"), progress=False
    )
    assert again.messages == run.messages
    assert again.releases == run.releases
    assert [(w, len(ids)) for w, ids, _ in again.deliveries] == [
        (w, len(ids)) for w, ids, _ in run.deliveries
    ]
    a, b = summarize(again), summarize(run)
    for volatile in ("wall_seconds", "store"):
        a.pop(volatile), b.pop(volatile)
    assert a == b


# -- the traffic -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def traffic() -> tuple[list, dict]:
    from deconnexion.core.policy import Policy
    from deconnexion.core.scheduler import Scheduler

    config = TrafficConfig(messages=6000)
    schedulers = {e.key: Scheduler(Policy.national(), e) for e in establishments_for(config)}
    return generate(config, schedulers), schedulers


def hours(messages: list, tz: object, **match: object) -> Counter[int]:
    out: Counter[int] = Counter()
    for m in messages:
        if all(getattr(m, k) == v for k, v in match.items()):
            out[datetime.fromtimestamp(m.created_at, tz).hour] += 1  # type: ignore[arg-type]
    return out


def test_default_is_one_college_in_zone_c_around_toussaint(traffic: tuple) -> None:
    messages, schedulers = traffic
    assert len(messages) == 6000
    [sched] = schedulers.values()
    assert sched.establishment.level == "college"
    assert sched.establishment.location.territory.key == "zone_c"
    assert re.fullmatch(r"075\d{4}[A-Z]", sched.establishment.key)
    days = {local_day(m, sched.tz) for m in messages}
    assert min(days) >= date(2025, 10, 6) and max(days) <= date(2025, 11, 16)


def local_day(m: object, tz: object) -> date:
    return datetime.fromtimestamp(m.created_at, tz).date()  # type: ignore[attr-defined, arg-type]


def test_teachers_enter_grades_mostly_in_the_evening(traffic: tuple) -> None:
    messages, schedulers = traffic
    tz = next(iter(schedulers.values())).tz
    h = hours(messages, tz, group="grade")
    evening = sum(v for k, v in h.items() if k >= 20)
    assert evening > 0.4 * sum(h.values())


def test_homework_is_posted_on_sunday_night(traffic: tuple) -> None:
    messages, schedulers = traffic
    tz = next(iter(schedulers.values())).tz
    homework = [m for m in messages if m.kind is Kind.HOMEWORK]
    sundays = [m for m in homework if local_day(m, tz).weekday() == 6]
    assert len(sundays) > 0.25 * len(homework)
    assert max(hours(sundays, tz).items(), key=lambda kv: kv[1])[0] >= 17


def test_absences_in_the_morning_and_vie_scolaire_in_the_day(traffic: tuple) -> None:
    messages, schedulers = traffic
    tz = next(iter(schedulers.values())).tz
    absences = hours(messages, tz, kind=Kind.ABSENCE)
    assert sum(v for k, v in absences.items() if 8 <= k < 11) > 0.7 * sum(absences.values())
    vie = hours(messages, tz, group="vie_scolaire")
    assert set(vie) <= set(range(8, 18))


def test_urgent_messages_from_the_head_and_from_teachers(traffic: tuple) -> None:
    messages, _ = traffic
    heads = [m for m in messages if m.group == "urgent_head"]
    teachers = [m for m in messages if m.group == "urgent_teacher"]
    assert heads and all(m.urgent and m.justification for m in heads)
    assert teachers and all(m.urgent and m.sender_role.value == "teacher" for m in teachers)


def test_a_grade_is_corrected_twice_under_one_collapse_key(traffic: tuple) -> None:
    messages, _ = traffic
    keys = Counter(m.collapse_key for m in messages if m.group == "grade_corrected")
    assert keys and set(keys.values()) == {3}
    audiences = {m.audience for m in messages if m.group == "grade_corrected"}
    assert audiences == {Audience.STUDENTS, Audience.PARENTS}


def test_traffic_is_reproducible_and_depends_on_the_seed(traffic: tuple) -> None:
    messages, schedulers = traffic
    assert generate(TrafficConfig(messages=6000), schedulers) == messages
    assert generate(TrafficConfig(messages=6000, seed=1), schedulers) != messages


def test_many_establishments_share_the_messages(traffic: tuple) -> None:
    from deconnexion.core.policy import Policy
    from deconnexion.core.scheduler import Scheduler

    config = TrafficConfig(establishments=3, messages=900, zone="B")
    ests = establishments_for(config)
    assert len({e.key for e in ests}) == 3
    assert all(e.location.territory.key == "zone_b" for e in ests)
    messages = generate(config, {e.key: Scheduler(Policy.national(), e) for e in ests})
    assert len(messages) == 900
    assert set(Counter(m.establishment for m in messages).values()) == {300}


def test_shards_split_the_establishments_without_changing_their_traffic() -> None:
    from dataclasses import replace

    from deconnexion.core.policy import Policy
    from deconnexion.core.scheduler import Scheduler

    def traffic_of(config: TrafficConfig) -> list:
        ests = establishments_for(config)
        return generate(config, {e.key: Scheduler(Policy.national(), e) for e in ests})

    config = TrafficConfig(establishments=5, messages=1003, end=date(2025, 10, 19))
    whole = traffic_of(config)
    parts = [traffic_of(replace(config, shard=k, shards=2)) for k in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(whole)
    assert not {m.establishment for m in parts[0]} & {m.establishment for m in parts[1]}


# -- the report and the command line ------------------------------------------------------------


def test_report_is_self_contained_french_html(run: SimulationRun, summary: dict) -> None:
    page = render(run, summary)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    for element_id in ("timeline", "timeline-week", "peaks", "summary"):
        assert f'id="{element_id}"' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page
    assert page.count('class="quiet-window"') > 20
    assert "Rien diffusé pendant une fenêtre de déconnexion" in page


def test_cli_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "rapport.html"
    code = simulate_main(
        [
            "--messages", "400", "--start", "2025-11-03", "--end", "2025-11-16",
            "--store", f"sqlite:///{tmp_path / 'cli.db'}", "--report", str(report),
            "--json", "--quiet",
        ]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["messages"]["total"] == 400
    assert out["report"] == str(report) and report.exists()


def test_cli_text_summary_in_french(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate_main(
        ["--messages", "300", "--end", "2025-10-19", "--store", "memory://", "--report", "-",
         "--quiet"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    assert "Messages : 300" in text
    assert "Rien diffusé pendant une fenêtre de déconnexion : OUI" in text


def test_cli_bad_input_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(["--start", "2025-11-10", "--end", "2025-11-01"]) == 2
    assert "before --start" in capsys.readouterr().err
    assert simulate_main(["--zone", "Z", "--report", "-", "--store", "memory://"]) == 2
    assert "Z" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        simulate_main(["--messages", "0"])


def test_a_run_leaves_the_cycle_collector_as_it_found_it(tmp_path: Path) -> None:
    import gc

    from examples.simulator.run import collector_ignores_what_exists

    tiny = dataclasses.replace(SMALL, messages=200)
    before = gc.get_freeze_count()
    simulate(tiny, options=RunOptions(store_url=f"sqlite:///{tmp_path}/a.db"), progress=False)
    assert gc.get_freeze_count() == before
    if before:
        return  # someone else froze objects: their freeze is theirs to undo
    with collector_ignores_what_exists():
        assert gc.get_freeze_count() > 0  # frozen while the block runs
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller's own freeze is kept
    try:
        frozen = gc.get_freeze_count()
        simulate(tiny, options=RunOptions(store_url=f"sqlite:///{tmp_path}/b.db"), progress=False)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
