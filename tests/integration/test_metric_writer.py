"""The embedded store's direct write path stores exactly what MLflow's own log_batch stores; the writer
refuses bad input on the caller's thread; a spool survives a line torn by a crash."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from mlflow.entities import Metric

from mlops_nb import config, store
from mlops_nb.capture import spool as spools
from mlops_nb.capture.metrics import MetricWriter, sink_for
from mlops_nb.exceptions import StoreError, UsageError

POINTS = [
    ("loss", 0.5, 1000, 0),
    ("loss", 0.4, 1001, 1),
    ("loss", 0.45, 999, 1),  # same step, older timestamp
    ("loss", 0.4, 1001, 1),  # exact duplicate
    ("acc", float("nan"), 1000, 3),
    ("acc", 0.9, 1002, 2),
    ("big", float("inf"), 1000, 0),
    ("big", float("-inf"), 1000, 1),
    ("late", 1.0, 5000, 7),
    ("late", 2.0, 1000, 2),  # latest is by step first
]


def _history(client, run_id: str, key: str) -> list[tuple]:
    return sorted(
        (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
        for m in client.get_metric_history(run_id, key)
    )


def test_direct_writes_match_mlflow_log_batch(project: Path) -> None:
    client = store.client()
    exp = store.experiment_id("writer")
    ours, theirs = client.create_run(exp).info.run_id, client.create_run(exp).info.run_id
    sink_for(config.current(), client, ours)(POINTS)  # the writer's batches, with exact timestamps
    client.log_batch(theirs, metrics=[Metric(*p) for p in POINTS])
    ours_run, theirs_run = client.get_run(ours), client.get_run(theirs)
    for key in ("loss", "acc", "big", "late"):
        assert _history(client, ours, key) == _history(client, theirs, key)
        a, b = ours_run.data.metrics[key], theirs_run.data.metrics[key]
        assert (math.isnan(a) and math.isnan(b)) or a == b, key
    assert ours_run.data.metrics["late"] == 1.0 and ours_run.data.metrics["loss"] == 0.4


def test_bad_metric_input_is_refused_on_the_callers_thread(project: Path) -> None:
    client = store.client()
    run_id = client.create_run(store.experiment_id("writer")).info.run_id
    writer = MetricWriter(sink_for(config.current(), client, run_id), project / "spool.jsonl")
    with pytest.raises(UsageError, match="must be numbers"):
        writer.add({"loss": "low"})
    with pytest.raises(UsageError, match="Invalid metric name"):
        writer.add({"a..b": 1.0})
    with pytest.raises(UsageError, match="step must be an integer"):
        writer.add({"loss": 1.0}, step=1.5)  # type: ignore[arg-type]
    writer.add({"loss": 1.0, "acc": 2}, step=3)
    assert writer.close().written == 2


def test_a_spool_line_torn_by_a_crash_does_not_block_the_others(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = store.client()
    run_id = client.create_run(store.experiment_id("torn")).info.run_id
    spool = project / ".mlops" / "spool" / f"{run_id}.jsonl"
    spool.parent.mkdir(parents=True)
    spool.write_text(
        '["m", 5.0, 1000, 5]\n["m", 6.0, 1000, 6]\n["m", 7.', encoding="utf-8"
    )  # killed mid-line
    assert spools.replay(spool, sink_for(config.current(), client, run_id)) == 2
    assert [m.step for m in client.get_metric_history(run_id, "m")] == [5, 6]
    assert not spool.exists()
    assert "Traceback" not in capsys.readouterr().err


def test_points_spooled_after_a_torn_line_are_kept(project: Path) -> None:
    client = store.client()
    run_id = client.create_run(store.experiment_id("torn")).info.run_id
    spool = project / ".mlops" / "spool" / f"{run_id}.jsonl"
    spool.parent.mkdir(parents=True)
    spool.write_text('["m", 5.0, 1000, 5]\n["m", 7.', encoding="utf-8")  # killed mid-line

    def refusing(points: list) -> None:
        raise StoreError("store refused")

    writer = MetricWriter(refusing, spool)
    writer.add({"m": 8.0}, step=8)
    writer.add({"m": 9.0}, step=9)
    assert writer.close().pending == 0
    assert spools.replay(spool, sink_for(config.current(), client, run_id)) == 3
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "m")] == [
        (5, 5.0),
        (8, 8.0),
        (9, 9.0),
    ]
