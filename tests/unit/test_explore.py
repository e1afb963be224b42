"""The explore queries on a real embedded store: rows and warnings, paging, run detail, compare, lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_nb import records
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.explore import comparison as compare_module
from mlops_nb.explore import rows
from tests.server.seeding import XSS_NAME, Seeded, seed_project


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    project = tmp_path_factory.mktemp("project")
    mp.setenv(records.ENV_PROJECT, str(project))
    yield seed_project(project)
    mp.undo()


def test_warnings_from_tags():
    tags = {
        records.TAG_EXECUTION_ORDER: records.EXECUTION_OUT_OF_ORDER,
        records.TAG_GIT_DIRTY: "true",
        records.TAG_WARNING_SPLIT_LEAKAGE: "4 rows shared",
        records.TAG_WARNING_PREFIX + "custom": "false",
    }
    found = rows.warnings_from_tags(tags)
    assert [w["code"] for w in found] == ["execution_order", "git_dirty", "split_leakage"]
    assert found[2]["message"] == "4 rows shared"
    assert rows.warnings_from_tags({records.TAG_GIT_DIRTY: "false"}) == []


def test_duration_and_mode():
    assert rows.duration_ms("FINISHED", 1000, 4000) == 3000
    assert rows.duration_ms("FAILED", 1000, None) is None
    assert rows.duration_ms("RUNNING", 1000, None, now_ms=1500) == 500
    assert rows.mode({records.TAG_MODE: "pipeline"}) == "pipeline"
    assert rows.mode({records.TAG_MODE: "other"}) is None


def test_align_same_steps_fast_path():
    a, b = "a" * 32, "b" * 32
    points = [(run, "acc", step, step / 10, step) for run in (a, b) for step in range(3)]
    (acc,) = compare_module._align([b, a], ["acc"], points, histories=True)
    assert acc["steps"] == [0, 1, 2]
    assert [s["run_id"] for s in acc["series"]] == [b, a]
    assert acc["series"][0]["values"] == [0.0, 0.1, 0.2]
    assert acc["summary"][1]["last_step"] == 2


def test_align_takes_the_latest_point_of_a_repeated_step_and_unions_steps():
    a, b = "a" * 32, "b" * 32
    points = [
        (a, "loss", 0, 1.0, 10),
        (a, "loss", 1, 0.8, 12),  # the same step logged twice: the later timestamp wins, whatever the order
        (a, "loss", 1, 0.9, 11),
        (a, "loss", 3, None, 13),  # NaN, as the store hands it out
        (b, "loss", 2, 0.5, 10),
    ]
    (loss,) = compare_module._align([a, b], ["loss"], points, histories=True)
    assert loss["steps"] == [0, 1, 2, 3]
    assert loss["series"][0]["values"] == [1.0, 0.8, None, None]
    assert loss["series"][1]["values"] == [None, None, 0.5, None]
    assert loss["summary"][0] == {
        "run_id": a,
        "last": None,
        "min": 0.8,
        "max": 1.0,
        "mean": pytest.approx(0.9),
        "count": 3,
        "last_step": 3,
    }
    assert loss["best_run_id"] == b  # a's last value is NaN: b is the only one with a value


def test_lower_is_better():
    assert compare_module.lower_is_better("val_loss")
    assert compare_module.lower_is_better("RMSE")
    assert not compare_module.lower_is_better("accuracy")


def test_list_runs_pages_and_filters(seeded: Seeded):
    from mlops_nb import explore

    first = explore.list_runs(seeded.experiment_id, max_results=4, settings=seeded.settings)
    second = explore.list_runs(
        seeded.experiment_id, max_results=4, page_token=first["next_page_token"], settings=seeded.settings
    )
    assert second["next_page_token"] is None
    ids = [r["run_id"] for r in first["runs"] + second["runs"]]
    assert len(set(ids)) == 6
    html = explore.list_runs(seeded.experiment_id, filter_string="metrics.loss < 2", settings=seeded.settings)
    assert XSS_NAME in [r["run_name"] for r in html["runs"]]
    with pytest.raises(UsageError, match="max_results"):
        explore.list_runs(seeded.experiment_id, max_results=True, settings=seeded.settings)
    with pytest.raises(UsageError, match="Invalid request"):
        explore.list_runs(seeded.experiment_id, filter_string="metrics.loss <", settings=seeded.settings)
    with pytest.raises(NotFoundError):
        explore.list_runs("424242", settings=seeded.settings)


def test_embedded_compare_matches_mlflow_client(seeded: Seeded):
    """The SQL fast path answers exactly what the MlflowClient path answers."""
    ids = [seeded.step_run, *seeded.interactive, seeded.running_run]
    fast_rows, fast_metrics, fast_tags = compare_module._embedded(seeded.settings, ids, None, True)
    slow_rows, slow_metrics, slow_tags = compare_module._tracking_server(seeded.settings, ids, None, True)
    for fast, slow in zip(fast_rows, slow_rows, strict=True):
        fast.pop("duration_ms")
        slow.pop("duration_ms")
        assert fast == slow
    assert fast_metrics == slow_metrics
    assert fast_tags == slow_tags  # the chart defaults read the same tags either way


def test_compare_refuses_unknown_and_deleted_runs(seeded: Seeded):
    from mlops_nb import explore, store

    client = store.client(seeded.settings)
    doomed = client.create_run(seeded.experiment_id).info.run_id
    client.delete_run(doomed)
    with pytest.raises(NotFoundError, match=doomed):
        explore.compare([seeded.step_run, doomed], settings=seeded.settings)


def test_run_detail_and_lineage(seeded: Seeded):
    from mlops_nb import explore
    from mlops_nb.registry import lineage

    detail = explore.get_run(seeded.step_run, seeded.settings)
    assert {s["name"]: s["num_rows"] for s in detail["splits"]} == {"test": 20, "train": 80}
    graph = lineage.run_lineage(seeded.step_run, seeded.settings)
    types = sorted(node["type"] for node in graph["nodes"])
    assert types == ["commit", "dataset", "dataset", "model_version", "notebook", "pipeline_run", "run"]
    with pytest.raises(NotFoundError):
        lineage.model_version_lineage("demo-model", "9", seeded.settings)


def test_snapshot_copy_refuses_paths_outside_the_artifacts(seeded: Seeded, tmp_path: Path):
    from mlops_nb import explore, store

    client = store.client(seeded.settings)
    run_id = client.create_run(seeded.experiment_id).info.run_id
    client.set_tag(run_id, records.TAG_NOTEBOOK_SNAPSHOT, "../../../etc/passwd.ipynb")
    with pytest.raises(NotFoundError, match="no notebook snapshot"):
        explore.copy_snapshot(run_id, tmp_path, seeded.settings)
    copied = explore.copy_snapshot(seeded.step_run, tmp_path, seeded.settings)
    assert copied == tmp_path / seeded.step_run / "train.ipynb"
    assert copied.read_text().startswith("{")


@pytest.fixture(scope="module")
def tracking_server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory):
    """`mlflow server` on 127.0.0.1 over the seeded store, stopped by its pid; yields its Settings."""
    import dataclasses
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    log = (tmp_path_factory.mktemp("server") / "mlflow.log").open("w")
    server = subprocess.Popen(
        [f"{bin_dir}/mlflow", "server", "--backend-store-uri", seeded.settings.tracking_uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"mlflow server did not start (see {log.name})") from None
                time.sleep(0.5)
        yield dataclasses.replace(seeded.settings, tracking_uri=url)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_tracking_server_answers_like_the_embedded_store(seeded: Seeded, tracking_server):
    """Through http:// the queries go through MlflowClient and give the same answers as the SQL fast path."""
    from mlops_nb import explore
    from mlops_nb.registry import lineage

    assert not tracking_server.embedded
    local = {e["experiment_id"]: e["run_count"] for e in explore.list_experiments(seeded.settings)}
    remote = {e["experiment_id"]: e["run_count"] for e in explore.list_experiments(tracking_server)}
    assert remote == local
    ids = [seeded.step_run, *seeded.interactive]
    assert (
        explore.compare(ids, settings=tracking_server)["metrics"]
        == explore.compare(ids, settings=seeded.settings)["metrics"]
    )
    page = explore.list_runs(seeded.experiment_id, max_results=2, settings=tracking_server)
    assert page["total_count"] is None
    assert page["next_page_token"]
    detail = explore.get_run(seeded.step_run, tracking_server)
    assert detail["metric_histories"] == explore.get_run(seeded.step_run, seeded.settings)["metric_histories"]
    assert (
        lineage.run_lineage(seeded.step_run, tracking_server)["edges"]
        == lineage.run_lineage(seeded.step_run, seeded.settings)["edges"]
    )
    with pytest.raises(NotFoundError):
        explore.get_run("0" * 32, tracking_server)


def test_runs_table_through_a_tracking_server_matches_the_sql_path(seeded: Seeded, tracking_server):
    """Over http:// the runs table pages through MlflowClient: the same rows, tree and children as in SQL."""
    from mlops_nb import explore

    def ids(answer: dict) -> list[str]:
        return [row["run_id"] for row in answer["runs"]]

    for query in (
        {"offset": 0},
        {"offset": 2, "max_results": 2},
        {"top_level": True},
        {"parent": seeded.pipeline_run},
        {"order_by": "params.lr ASC", "top_level": True},
    ):
        remote = explore.runs_table(seeded.experiment_id, settings=tracking_server, **query)
        local = explore.runs_table(seeded.experiment_id, settings=seeded.settings, **query)
        if query.get("order_by"):  # MLflow sorts params as text, the SQL path as numbers: same set
            assert sorted(ids(remote)) == sorted(ids(local)), query
        else:
            assert ids(remote) == ids(local), query
        assert remote["columns"]["params"] == sorted({k for r in remote["runs"] for k in r["params"]})
    top = explore.runs_table(seeded.experiment_id, top_level=True, settings=tracking_server)
    assert seeded.step_run not in ids(top)
    assert top["total_count"] == len(top["runs"])
    pipeline = next(row for row in top["runs"] if row["run_id"] == seeded.pipeline_run)
    assert pipeline["child_count"] == 1  # expandable through a tracking server too
