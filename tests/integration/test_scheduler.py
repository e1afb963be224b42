"""The scheduler with real processes and real pipeline runs: interval and cron firings, two schedulers on
one database, a scheduler killed mid-run. The release lookup is the stand-in of release_standin.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlops_nb import records
from mlops_nb.scheduling import schedules, state
from mlops_nb.scheduling.scheduler import Scheduler
from tests.integration import release_standin
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)

STANDIN = Path(release_standin.__file__)
ENDED = (state.FINISHED, state.FAILED, state.ABANDONED, state.KILLED)


@pytest.fixture(autouse=True)
def _release(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's current release is the project's pipeline file (stand-in)."""
    import mlops_nb.pipelines

    monkeypatch.setenv(release_standin.VARIABLE, str(project.pipeline))
    monkeypatch.delitem(sys.modules, "mlops_nb.pipelines.release", raising=False)
    monkeypatch.delattr(mlops_nb.pipelines, "release", raising=False)  # put back (or removed) after the test
    release_standin.install()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def scheduler_process(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(STANDIN), "scheduler", *args],
        cwd=project.root,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    return out


def ended(schedule_id: str) -> list[dict[str, Any]]:
    return [f for f in schedules.history(schedule_id) if f["state"] in ENDED]


def triggered_runs(project: Project, schedule_id: str) -> list[Any]:
    client = project.client
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, f"tags.`{records.TAG_TRIGGER_SCHEDULE}` = '{schedule_id}'")


def test_interval_schedule_fires_real_runs(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", every="3s")
    process = scheduler_process(project, "--poll", "0.5")
    try:
        wait_for(lambda: len([f for f in ended(schedule_id) if f["state"] == "finished"]) >= 2, "two runs")
    finally:
        out = stop(process)
    assert process.returncode == 0, out
    firings = {f["fire_time"]: f for f in schedules.history(schedule_id) if f["run_id"]}
    runs = triggered_runs(project, schedule_id)
    assert len(runs) == len(firings) >= 2
    anchor = datetime.fromisoformat(min(firings))
    for run in runs:
        tags = run.data.tags
        firing = firings[tags[records.TAG_TRIGGER_FIRE_TIME]]
        assert firing["run_id"] == run.info.run_id
        assert tags[records.TAG_TRIGGER] == "interval" and tags[records.TAG_RELEASE] == "dev#1"
        assert (datetime.fromisoformat(tags[records.TAG_TRIGGER_FIRE_TIME]) - anchor).total_seconds() % 3 == 0
        assert run.info.status != "RUNNING"  # the last one was stopped with the scheduler: KILLED
    assert {f["state"] for f in firings.values()} <= {"finished", "killed"}


def test_cron_fires_a_real_run_at_its_time(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", cron="0 * * * *", tz="Europe/Paris")
    fire_time = datetime.fromisoformat(schedules.list_schedules()[0].next_fire)
    scheduler = Scheduler(clock=lambda: fire_time + timedelta(seconds=5))
    scheduler.register()
    try:
        scheduler.tick()
        assert scheduler.processes, schedules.history(schedule_id)
        wait_for(lambda: (scheduler.reap(), not scheduler.processes)[1], "the cron run to end")
    finally:
        scheduler.shutdown()
    (firing,) = schedules.history(schedule_id)
    assert firing["state"] == "finished", firing
    run = project.client.get_run(firing["run_id"])
    assert run.data.tags[records.TAG_TRIGGER] == "cron"
    assert run.data.tags[records.TAG_TRIGGER_FIRE_TIME] == state.iso(fire_time)
    assert run.info.status == "FINISHED"


def test_two_schedulers_run_each_firing_once(project: Project) -> None:
    schedule_id = schedules.add(project.pipeline, "dev", every="2s")
    processes = [scheduler_process(project, "--poll", "0.3") for _ in range(2)]
    try:
        wait_for(lambda: len(ended(schedule_id)) >= 2, "two firings to end", timeout=480)
    finally:
        outputs = [stop(p) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    launched = [f for f in schedules.history(schedule_id) if f["state"] != "skipped"]
    runs = triggered_runs(project, schedule_id)
    fire_times = [run.data.tags[records.TAG_TRIGGER_FIRE_TIME] for run in runs]
    assert len(fire_times) == len(set(fire_times)), fire_times  # one run per firing
    assert sorted(fire_times) == sorted(f["fire_time"] for f in launched if f["run_id"])
    assert all(run.info.status != "RUNNING" for run in runs)


def _hanging_run(project: Project, schedule_id: str) -> dict[str, Any]:
    """The running firing once its training step hangs in the notebook."""

    def hanging() -> dict[str, Any] | None:
        for firing in schedules.history(schedule_id):
            run_id = firing["run_id"] or _run_id(project, schedule_id, firing)
            if firing["state"] == "running" and run_id and "training" in project.steps(run_id):
                return {**firing, "run_id": run_id}
        return None

    return wait_for(hanging, "a run hanging in training")


def _run_id(project: Project, schedule_id: str, firing: dict[str, Any]) -> str | None:
    runs = [
        r
        for r in triggered_runs(project, schedule_id)
        if r.data.tags.get(records.TAG_TRIGGER_FIRE_TIME) == firing["fire_time"]
        and r.data.tags.get(records.TAG_PIPELINE_KIND) == records.PIPELINE_KIND_PIPELINE
    ]
    return runs[0].info.run_id if runs else None


def test_killed_scheduler_run_is_ended_and_caught_up_once(project: Project) -> None:
    project.write_pipeline(parameters={"max_iter": 200, "mode": "hang"})
    schedule_id = schedules.add(project.pipeline, "dev", every="2s")
    process = scheduler_process(project, "--poll", "0.3")
    try:
        firing = _hanging_run(project, schedule_id)
        # A crash: the scheduler stops dead, then its run's processes (run, kernel) are killed too.
        os.kill(process.pid, signal.SIGSTOP)
        (firing_row,) = [f for f in _rows(schedule_id) if f.id == firing["id"]]
        tree = psutil.Process(firing_row.pid)
        for each in [*tree.children(recursive=True), tree]:
            each.kill()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=60)
    assert project.client.get_run(firing["run_id"]).info.status == "RUNNING"  # left behind by the crash
    project.write_pipeline()  # the next release does not hang
    killed_at = datetime.fromisoformat(firing["fire_time"])
    wait_for(lambda: state.now() > killed_at + timedelta(seconds=7), "firings to be missed", timeout=30)

    done = subprocess.run(
        [sys.executable, str(STANDIN), "scheduler", "--once"],
        cwd=project.root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    crashed = project.client.get_run(firing["run_id"])
    assert crashed.info.status == "KILLED"
    assert crashed.data.tags[records.TAG_ERROR_KIND] == records.ERROR_KIND_ABANDONED
    assert "died during the run" in crashed.data.tags[records.TAG_ERROR]
    assert all(step.info.status != "RUNNING" for step in project.steps(firing["run_id"]).values())
    history = schedules.history(schedule_id)
    assert [f["state"] for f in history if f["id"] == firing["id"]] == ["abandoned"]
    later = [f for f in history if f["id"] > firing["id"]]
    caught_up = [f for f in later if f["state"] != "skipped"]
    assert len(caught_up) == 1 and caught_up[0]["state"] == "finished", history  # one catch-up run
    assert (
        json.loads(project.client.get_run(caught_up[0]["run_id"]).data.tags[records.TAG_TRIGGER_EVIDENCE])[
            "missed"
        ]
        >= 2
    )
    assert len(triggered_runs(project, schedule_id)) == 2


def _rows(schedule_id: str) -> list[Any]:
    import sqlalchemy as sa

    with state.transaction() as db:
        return db.execute(sa.select(state.firings).where(state.firings.c.schedule_id == schedule_id)).all()


def test_a_firing_with_evidence_too_big_for_a_command_line_still_runs(project: Project) -> None:
    evidence = {"drift": {f"column_{i:05d}": 0.123456 for i in range(12000)}}  # ~300 kB of JSON
    schedules.raise_trigger(project.pipeline, "dev", "drift", evidence)
    scheduler = Scheduler()
    scheduler.register()
    try:
        scheduler.tick()  # raised OSError (argument list too long), and again at every start
        assert scheduler.processes
        wait_for(lambda: (scheduler.reap(), not scheduler.processes)[1], "the drift run to end")
    finally:
        scheduler.shutdown()
    (schedule,) = schedules.list_schedules()
    (firing,) = schedules.history(schedule.id)
    assert firing["state"] == "finished", firing
    tags = project.client.get_run(firing["run_id"]).data.tags
    assert tags[records.TAG_TRIGGER] == "drift"
    assert json.dumps(evidence).startswith(tags[records.TAG_TRIGGER_EVIDENCE])  # as much as a tag holds
