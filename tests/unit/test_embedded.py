"""The embedded store's direct SQL reads stay within SQLite's limit on bound parameters (999 on builds
before 3.32): a real store, read through connections whose limit is lowered with setlimit."""

from __future__ import annotations

import sqlite3
import time
import uuid
from itertools import groupby
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param, RunTag

from mlops_nb import config, mlflow_internals, store

RUNS = 12
KEYS = [f"metric_{index}" for index in range(7)]
STEPS = 3


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Settings, list[str]]:
    """A store with RUNS runs, each with a param, a tag and every key of KEYS at STEPS steps."""
    root: Path = tmp_path_factory.mktemp("embedded")
    (root / "mlops.toml").write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("MLOPS_NB_PROJECT", raising=False)
        settings = config.load(root)
    client = store.client(settings)
    experiment = store.experiment_id("limits", settings)
    now = int(time.time() * 1000)
    run_ids = []
    for index in range(RUNS):
        run_id = client.create_run(experiment).info.run_id
        metrics = [Metric(key, index + step / 10, now + step, step) for key in KEYS for step in range(STEPS)]
        client.log_batch(run_id, metrics=metrics, params=[Param("i", str(index))], tags=[RunTag("t", "x")])
        run_ids.append(run_id)
    return settings, run_ids


@pytest.mark.parametrize("limit", [10, 999])
def test_reads_stay_within_the_parameter_limit(filled, limit: int) -> None:
    settings, run_ids = filled
    with mlflow_internals.connect(settings) as conn:
        expected = {
            "runs": mlflow_internals.runs(conn, run_ids),
            "params": mlflow_internals.key_values(conn, "params", run_ids),
            "latest": mlflow_internals.latest_metrics(conn, run_ids),
            "points": list(mlflow_internals.metric_points(conn, run_ids, KEYS)),
        }
    assert len(expected["points"]) == RUNS * len(KEYS) * STEPS
    # The panel binds up to 900 run ids and 100 metric keys in one read: some of them unknown here.
    unknown = [uuid.uuid4().hex for _ in range(900 - RUNS)]
    ids, keys = [*run_ids, *unknown], [*KEYS, *(f"absent_{i}" for i in range(100 - len(KEYS)))]
    with mlflow_internals.connect(settings) as conn:
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        assert mlflow_internals.runs(conn, ids) == expected["runs"]
        params = mlflow_internals.key_values(conn, "params", ids)
        assert {run_id: params[run_id] for run_id in run_ids} == expected["params"]
        latest = mlflow_internals.latest_metrics(conn, ids)
        assert {run_id: latest[run_id] for run_id in run_ids} == expected["latest"]
        points = list(mlflow_internals.metric_points(conn, ids, keys))
    assert sorted(points) == sorted(expected["points"])
    groups = [group for group, _ in groupby(point[:2] for point in points)]
    assert len(groups) == len(set(groups)) == RUNS * len(KEYS)  # each run's key together, as compare needs
    for run_id in run_ids:  # and within a run, by key then step
        own = [point[1:3] for point in points if point[0] == run_id]
        assert own == sorted(own)
