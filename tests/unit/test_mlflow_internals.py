"""Canaries: one per MLflow private name mlops_nb uses. Each fails naming the name when MLflow changes it."""

from __future__ import annotations

import inspect

import mlflow
import pytest
from mlflow import MlflowClient

from mlops_nb import mlflow_internals


def test_mlflow_is_a_checked_release() -> None:
    release = ".".join(mlflow.__version__.split(".")[:2])
    assert release in mlflow_internals.CHECKED_RELEASES, (
        f"MLflow {mlflow.__version__} was not checked: run these canaries, then add {release} to CHECKED_RELEASES"
    )


def test_active_run_stack_pops_without_ending_the_run(tmp_path) -> None:
    """mlflow.tracking.fluent._active_run_stack: a ContextVar holding the list of fluent runs."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        run = mlflow.start_run()
        mlflow_internals.pop_fluent_run(run.info.run_id)
        assert mlflow.active_run() is None, "_active_run_stack no longer holds the fluent runs"
        status = MlflowClient().get_run(run.info.run_id).info.status
        assert status == "RUNNING", "popping _active_run_stack ended the run"
        MlflowClient().set_terminated(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)


def test_capture_imported_modules_keeps_its_signature() -> None:
    """mlflow.utils.requirements_utils._capture_imported_modules(model_uri, flavor, ...) -> list of modules."""
    try:
        function = mlflow_internals.requirement_inference()
    except AttributeError as exc:
        pytest.fail(f"requirements_utils._capture_imported_modules is gone: {exc}")
    parameters = list(inspect.signature(function).parameters)
    assert parameters[:2] == ["model_uri", "flavor"], (
        f"_capture_imported_modules takes {parameters} now, not (model_uri, flavor, ...)"
    )


def test_replaced_requirement_inference_is_what_mlflow_calls(tmp_path) -> None:
    """MLflow's inference looks up _capture_imported_modules at call time, so replacing it takes effect."""
    from mlflow.utils.environment import infer_pip_requirements

    original = mlflow_internals.requirement_inference()
    calls: list[str] = []

    def recording(model_uri, flavor, *args, **kwargs):
        calls.append(flavor)
        return ["sklearn"]

    mlflow_internals.replace_requirement_inference(recording)
    try:
        infer_pip_requirements(str(tmp_path), "sklearn")
    finally:
        mlflow_internals.replace_requirement_inference(original)
    assert calls == ["sklearn"], "MLflow no longer calls _capture_imported_modules to infer requirements"


def test_init_modules_to_packages_map_exists() -> None:
    """mlflow.utils.requirements_utils._init_modules_to_packages_map: filled once per process."""
    try:
        mlflow_internals.warm_package_map()
    except ImportError as exc:
        pytest.fail(f"_init_modules_to_packages_map is gone: {exc}")


def test_the_embedded_stores_tables_have_the_columns_read_and_written(tmp_path) -> None:
    """MLflow's SQLite schema: every table and column that the bulk reads and the metric writer use."""
    import sqlite3

    MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_experiments()  # creates MLflow's schema
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        for table, columns in mlflow_internals.TABLES.items():
            found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            assert found, f"MLflow's store has no table {table!r} any more"
            missing = set(columns) - found
            assert not missing, f"MLflow's table {table!r} lost the columns {sorted(missing)}"


def test_latest_metrics_keeps_its_conflict_key(tmp_path) -> None:
    """The metric writer upserts latest_metrics ON CONFLICT (key, run_uuid): that must stay its primary key."""
    import sqlite3

    MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").search_experiments()
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        key = [
            row[1]
            for row in sorted(conn.execute("PRAGMA table_info(latest_metrics)"), key=lambda r: r[5])
            if row[5]
        ]
    assert set(key) == {"key", "run_uuid"}, f"latest_metrics' primary key is now {key}"


def test_the_runs_tables_reads_match_mlflows_own_answers(tmp_path) -> None:
    """The runs table's SQL (run_page, child_counts, experiment_keys, experiment_exists) on runs MLflow wrote:
    MLflow's parent tag, its (key, run_uuid) primary keys, and the order and counts MLflow's search gives."""
    import sqlite3

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("canary")
    parent = client.create_run(experiment, run_name="parent").info.run_id
    children = [
        client.create_run(experiment, run_name=f"child-{i}", tags={"mlflow.parentRunId": parent}).info.run_id
        for i in range(3)
    ]
    for i, run_id in enumerate(children):
        client.log_param(run_id, "alpha", str([10, 2, 0.5][i]))
        client.log_metric(run_id, "loss", float(i))
    client.delete_run(children[2])
    assert mlflow_internals.PARENT_TAG == "mlflow.parentRunId"
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        for table in ("params", "latest_metrics", "tags"):
            key = [
                r[1] for r in sorted(conn.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5]) if r[5]
            ]
            assert set(key) == {"key", "run_uuid"}, f"{table}'s primary key is now {key}"
        assert mlflow_internals.experiment_exists(conn, experiment)
        assert not mlflow_internals.experiment_exists(conn, "987654")
        ids, total = mlflow_internals.run_page(conn, experiment, sort=None, offset=0, limit=10)
        searched = [r.info.run_id for r in client.search_runs([experiment])]
        assert (ids, total) == (searched, 3)  # newest first, deleted runs left out, as MLflow lists them
        top, total = mlflow_internals.run_page(
            conn, experiment, sort=None, offset=0, limit=10, top_level=True
        )
        assert (top, total) == ([parent], 1)
        kids, _ = mlflow_internals.run_page(
            conn, experiment, sort=("params", "alpha", True), offset=0, limit=10, parent=parent
        )
        assert kids == [children[1], children[0]]  # 2 < 10 as numbers
        by_loss, _ = mlflow_internals.run_page(
            conn, experiment, sort=("metrics", "loss", False), offset=0, limit=10
        )
        assert by_loss == [children[1], children[0], parent]  # no value: last
        assert mlflow_internals.child_counts(conn, [parent, children[0]]) == {parent: 2}
        assert mlflow_internals.experiment_keys(conn, experiment, "params") == ["alpha"]
    orphan = client.create_run(experiment, tags={"mlflow.parentRunId": "0" * 32}).info.run_id
    client.delete_run(parent)  # its children are top-level now: no expanded row would show them
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        top, _ = mlflow_internals.run_page(conn, experiment, sort=None, offset=0, limit=10, top_level=True)
        assert set(top) == {orphan, *children[:2]}
        assert mlflow_internals.experiment_keys(conn, experiment, "latest_metrics") == ["loss"]
        assert "mlflow.parentRunId" in mlflow_internals.experiment_keys(conn, experiment, "tags")
