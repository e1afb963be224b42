"""The loop closed: a real pipeline's model version, an inference log with one shifted feature, a monitoring
pass recorded in MLflow that raises the drift trigger, and a REAL scheduler process that starts exactly one
retraining run of the environment's release carrying the evidence; the cooldown holds on the next pass; a
monitor schedule runs passes under the scheduler. The release lookup is the stand-in of release_standin.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_nb import records, store
from mlops_nb.monitoring import report, service
from mlops_nb.scheduling import schedules, state
from tests.integration import release_standin
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (fixture)
from tests.monitoring.logs import write_log

STANDIN = Path(release_standin.__file__)
ALIAS = "champion-dev"


@pytest.fixture(autouse=True)
def _release(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's current release is the project's pipeline file (stand-in)."""
    import mlops_nb.pipelines

    monkeypatch.setenv(release_standin.VARIABLE, str(project.pipeline))
    monkeypatch.delitem(sys.modules, "mlops_nb.pipelines.release", raising=False)
    monkeypatch.delattr(mlops_nb.pipelines, "release", raising=False)
    release_standin.install()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def scheduler(project: Project) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(STANDIN), "scheduler", "--poll", "0.5"],
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


def served_version(project: Project) -> str:
    from mlops_nb.pipelines import run

    gates = {"model": {"test_accuracy": {"threshold": 0.5, "greater_is_better": True}}}  # a retrain may tie
    project.write_pipeline(monitoring={"cooldown": "1h", "min_per_bin": 5}, gates=gates)
    result = run.run(project.pipeline, run.RunOptions(env="dev", progress=False))
    version = str(result.model_version)
    store.writer().set_alias(MODEL_NAME, ALIAS, version)
    return version


def shifted_log(project: Project, rows: int = 600) -> None:
    rng = np.random.default_rng(5)
    inputs = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(1, 5)})
    inputs["x1"] += 2.0
    inputs["segment"] = rng.integers(0, 3, size=rows)
    write_log(
        project.root / ".mlops" / "inference" / MODEL_NAME,
        inputs,
        rng.integers(0, 2, size=rows).astype(float),
        alias=ALIAS,
        start=datetime.now(UTC) - timedelta(minutes=30),
        spacing=timedelta(seconds=2),
    )


def retraining_runs(project: Project) -> list[Any]:
    client = project.client
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(
        experiments,
        f"tags.`{records.TAG_TRIGGER}` = 'drift' and tags.`{records.TAG_PIPELINE_KIND}` = 'pipeline'",
    )


def test_a_drift_verdict_starts_exactly_one_retraining_run_with_the_evidence(project: Project) -> None:
    version = served_version(project)
    shifted_log(project)
    result = service.monitor(MODEL_NAME, ALIAS, last="2h")
    assert result["version"] == version and result["verdict"] == "drift", service.render(result)
    assert result["features"]["x1"]["verdict"] == "drift"
    assert {r["verdict"] for name, r in result["features"].items() if name != "x1"} == {"ok"}
    (raised,) = result["triggers"]
    assert raised["kind"] == "drift" and "firing" in raised, raised

    monitoring = project.client.get_run(result["run_id"])
    assert monitoring.data.tags[records.TAG_MONITOR_VERDICT] == "drift"
    assert monitoring.data.tags[records.TAG_MONITOR_CHECK_PREFIX + "feature.x1"] == "drift"
    assert monitoring.data.metrics["drift.x1.psi"] == pytest.approx(result["features"]["x1"]["psi"])
    version_tags = project.client.get_model_version(MODEL_NAME, version).tags
    assert version_tags[records.TAG_MV_MONITOR_RUN] == result["run_id"]
    html = Path(
        project.client.download_artifacts(
            result["run_id"], records.ARTIFACT_MONITOR_REPORT, str(project.root / "downloads")
        )
    ).read_text()
    assert all(f'<section id="{key}">' in html for key in report.SECTIONS)

    process = scheduler(project)
    try:
        (firing,) = wait_for(
            lambda: [f for f in all_firings("drift") if f["state"] in ("finished", "failed")],
            "the retraining run",
        )
    finally:
        out = stop(process)
    assert firing["state"] == "finished", (
        firing,
        out[-3000:],
        Path(firing["log"] or "/dev/null").read_text()[-3000:],
    )
    (run,) = retraining_runs(project)
    tags = run.data.tags
    assert run.info.run_id == firing["run_id"] and tags[records.TAG_RELEASE] == "dev#1"
    assert tags[records.TAG_TRIGGER_MONITORING_RUN] == result["run_id"]
    evidence = json.loads(tags[records.TAG_TRIGGER_EVIDENCE])
    assert evidence["monitoring_run_id"] == result["run_id"]
    assert set(evidence["drifting"]) == {"x1"} and evidence["drifting"]["x1"]["psi"] > 0.2
    assert set(evidence["live_metric"]) >= {"metric", "live", "threshold"}

    again = service.monitor(MODEL_NAME, ALIAS, last="2h")  # the drift persists: the cooldown holds
    assert again["verdict"] == "drift"
    assert again["triggers"] == [{"kind": "drift", "skipped": "raised within the cooldown of 1h"}]
    assert len(all_firings("drift")) == 1 and len(retraining_runs(project)) == 1


def all_firings(kind: str) -> list[dict[str, Any]]:
    return [f for s in schedules.list_schedules() if s.kind == kind for f in schedules.history(s.id)]


def test_a_monitor_schedule_runs_passes_under_the_scheduler(project: Project) -> None:
    served_version(project)
    shifted_log(project)
    schedule_id = service.schedule(MODEL_NAME, ALIAS, "2s", window="2h")
    (listed,) = [s for s in schedules.list_schedules() if s.id == schedule_id]
    assert listed.kind == "monitor" and listed.trigger == f"monitor {MODEL_NAME}@{ALIAS} every 2s"
    process = scheduler(project)
    try:
        (firing, *_) = wait_for(
            lambda: [f for f in schedules.history(schedule_id) if f["state"] in ("finished", "failed")],
            "a monitoring pass",
        )
    finally:
        out = stop(process)
    assert firing["state"] == state.FINISHED, (firing, out[-3000:])
    run = project.client.get_run(firing["run_id"])
    assert run.data.tags[records.TAG_TRIGGER] == "monitor"
    assert run.data.tags[records.TAG_MONITOR_MODEL] == MODEL_NAME
    assert run.data.tags[records.TAG_MONITOR_VERDICT] == "drift"
