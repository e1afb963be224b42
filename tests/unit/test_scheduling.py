"""Triggers and the scheduler's planning against an injectable clock and a real state database (no runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from mlops_nb import cli, records, store
from mlops_nb.exceptions import ConfigError, UsageError
from mlops_nb.explore import runs as explore_runs
from mlops_nb.scheduling import schedules, state, triggers
from mlops_nb.scheduling.scheduler import Scheduler
from tests.integration.pipeline_project import Project, make_data, project_fixture  # noqa: F401


class Clock:
    """A clock the test moves."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def _firings(schedule_id: str, *states: str) -> list[sa.Row]:
    with state.transaction() as db:
        query = sa.select(state.firings).where(state.firings.c.schedule_id == schedule_id)
        if states:
            query = query.where(state.firings.c.state.in_(states))
        return db.execute(query.order_by(state.firings.c.fire_time)).all()


def _set_next_fire(schedule_id: str, moment: datetime) -> None:
    with state.transaction() as db:
        db.execute(
            state.schedules.update()
            .where(state.schedules.c.id == schedule_id)
            .values(next_fire=state.db_time(moment))
        )


def _done(schedule_id: str) -> None:
    """Mark the schedule's claimed firings finished (as if their runs ended)."""
    with state.transaction() as db:
        db.execute(
            state.firings.update()
            .where(state.firings.c.schedule_id == schedule_id, state.firings.c.state == state.CLAIMED)
            .values(state=state.FINISHED)
        )


def test_durations() -> None:
    assert triggers.parse_duration("30s") == 30
    assert triggers.parse_duration("6h") == 21600
    assert triggers.parse_duration("1h30m") == 5400
    assert triggers.parse_duration("366d") == 366 * 86400
    for bad in ("", "6", "six hours", "0s", "5x", "367d", "99999999999999999999d"):
        with pytest.raises(UsageError):
            triggers.parse_duration(bad)


def test_cron_follows_its_time_zone_across_dst() -> None:
    trigger = triggers.cron("30 2 * * *", "Europe/Paris")
    # 2026-03-29: Paris skips 02:00-03:00; cron fires at 03:00 local (01:00 UTC), then 02:30 local again.
    first = trigger.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert first == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert trigger.next_after(first) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
    due, count = trigger.due(first, datetime(2026, 4, 2, 0, 0, tzinfo=UTC))
    assert count == 4 and due[-1] == datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    with pytest.raises(UsageError, match="cron expression"):
        triggers.cron("61 * * * *", None)
    with pytest.raises(UsageError, match="time zone"):
        triggers.cron("0 3 * * *", "Mars/Olympus")


def test_cron_schedule_fires_on_time_by_the_injected_clock(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", cron="*/15 * * * *", tz="Asia/Kolkata")
    next_fire = datetime.fromisoformat(schedules.list_schedules()[0].next_fire)
    assert next_fire.minute % 15 == 0 and next_fire > datetime.now(UTC)  # +05:30: quarter hours stay aligned
    clock = Clock(next_fire - timedelta(seconds=1))
    scheduler = Scheduler(clock=clock)
    scheduler.plan()
    assert _firings(schedule_id) == []
    clock.moment = next_fire + timedelta(seconds=2)
    scheduler.plan()
    (firing,) = _firings(schedule_id)
    assert (firing.state, firing.kind, state.from_db(firing.fire_time)) == ("claimed", "cron", next_fire)
    assert firing.claimed_by == scheduler.id
    assert schedules.list_schedules()[0].next_fire == state.iso(next_fire + timedelta(minutes=15))


@pytest.mark.parametrize(("policy", "claimed", "missed"), [("none", 0, 4), ("one", 1, 3), ("all", 4, 0)])
def test_catchup_policies(project: Project, policy: str, claimed: int, missed: int) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", every="1h", catchup=policy)
    start = datetime.fromisoformat(schedules.list_schedules()[0].next_fire)
    clock = Clock(start + timedelta(hours=3, minutes=30))  # 4 firings passed while no scheduler ran
    Scheduler(clock=clock).plan()
    got = _firings(schedule_id, state.CLAIMED)
    assert len(got) == claimed
    if policy == "one":
        assert state.from_db(got[0].fire_time) == start + timedelta(hours=3)  # the latest
        assert state.loads(got[0].evidence) == {"missed": 3}
    skipped = _firings(schedule_id, state.SKIPPED)
    assert [state.loads(f.evidence)["missed"] for f in skipped] == ([missed] if missed else [])


def test_two_schedulers_plan_one_firing_once(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", every="10s")
    clock = Clock(datetime.fromisoformat(schedules.list_schedules()[0].next_fire))
    first, second = Scheduler(clock=clock), Scheduler(clock=clock)
    first.register()
    second.register()
    with state.transaction() as db:
        seen_by_second = state.schedule_row(db, schedule_id)
    first.plan()
    second._plan_time(seen_by_second)  # the race: the second read the schedule before the first planned
    second.plan()
    assert len(_firings(schedule_id)) == 1
    run_now = schedules.run_now(schedule_id)
    _done(schedule_id)
    second.claim_pending()
    first.claim_pending()
    (manual,) = [f for f in _firings(schedule_id) if f.id == run_now]
    assert (manual.kind, manual.state, manual.claimed_by) == ("manual", "claimed", second.id)


def test_data_trigger_fires_on_new_files_and_rows_only(project: Project) -> None:
    folder = project.root / "incoming"
    folder.mkdir()
    make_data(folder / "a.csv", rows=100, seed=0)
    project.write_pipeline(
        environments={"dev": {"experiment": "fixture-dev", "data": {"source": str(folder / "*.csv")}}}
    )
    on_file = schedules.add(project.pipeline, "dev", on_data=True)
    on_rows = schedules.add(project.pipeline, "dev", on_data=True, min_rows=50)
    scheduler = Scheduler()
    scheduler.plan()
    scheduler.plan()
    assert _firings(on_file) == [] and _firings(on_rows) == []  # nothing new: no firing

    make_data(folder / "b.csv", rows=20, seed=1)  # a new file with 20 rows
    scheduler.plan()
    (fired,) = _firings(on_file)
    evidence = state.loads(fired.evidence)
    assert fired.kind == "data" and evidence["new_files"] == [str(folder / "b.csv")]
    assert evidence["new_rows"] == 20 and evidence["rows"] == 120
    assert _firings(on_rows) == []  # 20 < 50 new rows
    _done(on_file)
    scheduler.plan()
    assert len(_firings(on_file)) == 1  # the file was seen: no second firing

    more = pd.read_csv(make_data(project.root / "more.csv", rows=30, seed=2))
    pd.concat([pd.read_csv(folder / "b.csv"), more]).to_csv(folder / "b.csv", index=False)  # 50 new in all
    scheduler.plan()
    (rows_fired,) = _firings(on_rows)
    assert state.loads(rows_fired.evidence)["new_rows"] == 50
    assert len(_firings(on_file)) == 2  # the fingerprint changed
    (folder / "b.csv").touch()  # same content, newer mtime: re-read, but no firing
    _done(on_file)
    _done(on_rows)
    scheduler.plan()
    assert len(_firings(on_file)) == 2 and len(_firings(on_rows)) == 1


def test_schedule_commands(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schedule", "add", str(project.pipeline), "--env", "dev", "--every", "6h"]) == 0
    schedule_id = capsys.readouterr().out.strip()
    assert cli.main(["schedule", "pause", schedule_id]) == 0
    assert cli.main(["schedule", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert (listed["id"], listed["status"], listed["trigger"]) == (schedule_id, "paused", "every 6h")
    assert cli.main(["schedule", "resume", schedule_id]) == 0
    assert cli.main(["schedule", "run-now", schedule_id]) == 0
    assert (
        cli.main(
            [
                "trigger",
                str(project.pipeline),
                "--env",
                "dev",
                "--kind",
                "drift",
                "--evidence",
                '{"psi": 0.4}',
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["schedule", "list"]) == 0
    out = capsys.readouterr().out
    assert "every 6h" in out and "drift" in out and "pending" in out
    assert cli.main(["schedule", "add", str(project.pipeline), "--env", "dev"]) == 2
    assert "exactly one trigger" in capsys.readouterr().err
    # a mistyped file is no pipeline with a release: refused, not queued to fail later
    assert cli.main(["trigger", "pipelines/trian.yaml", "--env", "dev", "--kind", "drift"]) == 2
    assert "nor a pipeline with a release" in capsys.readouterr().err
    assert "trian" not in {s.pipeline for s in schedules.list_schedules()}
    assert cli.main(["schedule", "remove", schedule_id]) == 0
    assert cli.main(["schedule", "pause", schedule_id]) == 2
    assert "No schedule" in capsys.readouterr().err


def test_scheduled_status_lists_triggered_runs(project: Project) -> None:
    settings = store.ensure_store()
    experiment = store.experiment_id("triggered", settings)
    writer = store.writer(settings)
    triggered = writer.create_run(experiment, {records.TAG_TRIGGER: "interval"}).info.run_id
    writer.create_run(experiment, {records.RUN_NAME: "by hand"})
    page = explore_runs.list_runs(experiment, status="SCHEDULED")
    assert [run["run_id"] for run in page["runs"]] == [triggered]


def test_a_dead_schedulers_run_is_ended_not_left_running(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", every="1h")
    fire_time = datetime.fromisoformat(schedules.list_schedules()[0].next_fire)
    clock = Clock(fire_time)
    dead = Scheduler(clock=clock)
    dead.register()
    dead.plan()
    (firing,) = _firings(schedule_id)
    settings = store.ensure_store()
    writer = store.writer(settings)
    experiment = store.experiment_id("fixture-dev", settings)
    tags = {
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE,
        records.TAG_TRIGGER_SCHEDULE: schedule_id,
        records.TAG_TRIGGER_FIRE_TIME: state.iso(fire_time),
    }
    run_id = writer.create_run(experiment, tags).info.run_id
    step_id = writer.create_run(experiment, {records.TAG_PIPELINE_RUN: run_id}).info.run_id
    with state.transaction() as db:  # its run was started by a process that has gone (pid 0: none)
        db.execute(
            state.firings.update()
            .where(state.firings.c.id == firing.id)
            .values(state=state.RUNNING, host=dead.host, pid=0)
        )
        db.execute(state.schedulers.update().where(state.schedulers.c.id == dead.id).values(pid_started=0.0))
    Scheduler(clock=clock).recover()
    (after,) = _firings(schedule_id)
    assert (after.state, after.run_id) == (state.ABANDONED, run_id)
    client = store.client(settings)
    for each in (run_id, step_id):
        run = client.get_run(each)
        assert run.info.status == "KILLED"
        assert run.data.tags[records.TAG_ERROR_KIND] == records.ERROR_KIND_ABANDONED


def test_sync_makes_schedules_of_declared_triggers(project: Project) -> None:
    def declare(*triggers_: dict) -> None:
        env = {"experiment": "fixture-dev", "triggers": list(triggers_)}
        project.write_pipeline(environments={"dev": env})

    declare({"cron": "0 3 * * *", "tz": "Europe/Paris"}, {"every": "6h", "catchup": "none"})
    by_hand = schedules.add(project.pipeline, "dev", every="1d")
    first = schedules.sync(project.pipeline)
    assert len(first["added"]) == 2 and first["removed"] == []
    listed = {s.id: s for s in schedules.list_schedules()}
    assert {listed[i].trigger for i in first["added"]} == {"cron 0 3 * * * (Europe/Paris)", "every 6h"}
    declare({"every": "6h", "catchup": "none"})
    second = schedules.sync(project.pipeline)
    assert second["added"] == [] and len(second["kept"]) == 1 and len(second["removed"]) == 1
    assert {s.id for s in schedules.list_schedules()} == {by_hand, *second["kept"]}
    project.write_pipeline(environments={"dev": {"triggers": [{"every": "6h", "cron": "* * * * *"}]}})
    with pytest.raises(ConfigError, match="exactly one of cron, every, on_data"):
        schedules.sync(project.pipeline)


def test_a_live_scheduler_on_this_host_is_not_taken_for_dead(project: Project) -> None:
    """A scheduler busy for longer than the heartbeat limit (a long tick) is alive while its process is."""
    start = datetime.now(UTC)
    busy = Scheduler(clock=Clock(start))
    busy.register()
    Scheduler(clock=Clock(start + timedelta(minutes=10))).recover()
    with state.transaction() as db:
        ids = set(db.execute(sa.select(state.schedulers.c.id)).scalars())
    assert busy.id in ids
