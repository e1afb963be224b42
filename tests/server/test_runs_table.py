"""The runs table's routes on a real server: offset pages, sort on any column, the tree, pipeline and sweep pages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlops_nb import records, store
from tests.server.seeding import XSS_NAME, Seeded
from tests.server.test_api import assert_error

PIPELINE_FILE = "name: tree\nnotebook: train.ipynb\nmodel: {name: tree-model, metric: test_accuracy}\n"


@dataclass
class Tree:
    experiment_id: str
    sweep: str = ""
    points: list[str] = field(default_factory=list)  # in the order they ran
    best: str = ""
    steps: dict[str, list[str]] = field(default_factory=dict)
    notebook_runs: list[str] = field(default_factory=list)


def _pipeline(
    client, experiment_id: str, parent: str, accuracy: float, *, folder: Path, version: str | None
) -> tuple:
    tags = {records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE, records.PARENT_RUN_ID: parent}
    run = client.create_run(experiment_id, run_name=f"tree alpha={accuracy}", tags=tags).info.run_id
    client.log_metric(run, "test_accuracy", accuracy)
    client.log_artifact(run, str(folder / "tree.yaml"), records.ARTIFACT_PIPELINE_FILE_DIR)
    steps = []
    for name, extra in (
        (records.STEP_INGESTION, {records.TAG_DATA_ROWS: "569"}),
        (records.STEP_MODEL_VALIDATION, {records.TAG_GATE_PASSED: "true"}),
        (records.STEP_REGISTRATION, {records.TAG_MODEL_VERSION: version} if version else {}),
    ):
        step_tags = {
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
            records.TAG_PIPELINE_STEP: name,
            records.PARENT_RUN_ID: run,
            **extra,
        }
        step = client.create_run(experiment_id, run_name=name, tags=step_tags).info.run_id
        client.set_terminated(step)
        steps.append(step)
    client.set_terminated(run)
    return run, steps


@pytest.fixture(scope="module")
def tree(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """Experiment "tree": a sweep of three points (two tie on the metric; the sweep chose the later one),
    each a pipeline of three steps, and three notebook runs with numeric params and a hostile tag."""
    client = store.client(seeded.settings)
    folder = tmp_path_factory.mktemp("pipeline")
    (folder / "tree.yaml").write_text(PIPELINE_FILE, encoding="utf-8")
    found = Tree(store.experiment_id("tree", seeded.settings))
    sweep_tags = {records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_SWEEP}
    found.sweep = client.create_run(found.experiment_id, run_name="tree-sweep", tags=sweep_tags).info.run_id
    client.create_registered_model("tree-model")
    client.create_model_version("tree-model", "runs:/x/model", run_id=found.sweep)
    client.set_registered_model_alias("tree-model", records.ALIAS_CHALLENGER, "1")
    for accuracy, version in ((0.95, None), (0.95, "1"), (0.90, None)):
        run, steps = _pipeline(
            client, found.experiment_id, found.sweep, accuracy, folder=folder, version=version
        )
        found.points.append(run)
        found.steps[run] = steps
    found.best = found.points[1]  # the tie: the sweep picked the second point, not the first
    client.set_tag(found.best, records.TAG_SWEEP_BEST, "true")
    best = folder / "sweep"
    best.mkdir()
    (best / "best.json").write_text(json.dumps({"alpha": 0.95}), encoding="utf-8")
    client.log_artifact(found.sweep, str(best / "best.json"), "sweep")
    client.log_metric(found.sweep, "best_test_accuracy", 0.95)
    client.set_terminated(found.sweep)
    for i, alpha in enumerate(("0.5", "10", "2")):  # numerically 0.5 < 2 < 10; as text "10" < "2"
        run = client.create_run(found.experiment_id, run_name=f"nb-{i}", tags={"team": XSS_NAME}).info.run_id
        client.log_param(run, "alpha", alpha)
        client.log_metric(run, "loss", float(i))
        started = client.get_run(run).info.start_time
        client.set_terminated(run, end_time=started + (5000, 1000, 3000)[i])  # durations 5 s, 1 s, 3 s
        found.notebook_runs.append(run)
    return found


async def test_top_level_rows_with_child_counts(api, tree: Tree):
    status, body = await api(
        f"experiments/{tree.experiment_id}/runs", params={"top_level": "true", "offset": "0"}
    )
    assert status == 200, body
    ids = [row["run_id"] for row in body["runs"]]
    assert set(ids) == {tree.sweep, *tree.notebook_runs}
    assert body["total_count"] == 4
    sweep = next(row for row in body["runs"] if row["run_id"] == tree.sweep)
    assert sweep["kind"] == "sweep"
    assert sweep["child_count"] == 3
    hostile = next(row for row in body["runs"] if row["run_id"] == tree.notebook_runs[0])
    assert hostile["user_tags"] == {"team": XSS_NAME}
    assert hostile["child_count"] == 0
    # the columns are the whole experiment's, children's included
    columns = body["columns"]
    assert (columns["params"], columns["tags"]) == (["alpha"], ["team"])
    assert columns["metrics"] == ["best_test_accuracy", "loss", "test_accuracy"]
    # classified by explore.columns: the sweep's best_ is ours, the pipeline's test_ score evaluation's
    assert columns["kinds"]["metrics"] == {
        "best_test_accuracy": "internal",
        "loss": "notebook",
        "test_accuracy": "evaluation",
    }
    assert columns["defaults"] == {"params": ["alpha"], "metrics": ["loss"]}


async def test_children_of_a_sweep_and_of_a_point(api, tree: Tree):
    path = f"experiments/{tree.experiment_id}/runs"
    status, body = await api(path, params={"parent": tree.sweep, "order_by": "attributes.start_time ASC"})
    assert status == 200, body
    assert [row["run_id"] for row in body["runs"]] == tree.points
    assert all(row["child_count"] == 3 and row["kind"] == "pipeline" for row in body["runs"])
    assert [row["sweep_best"] for row in body["runs"]] == [False, True, False]
    status, body = await api(path, params={"parent": tree.points[0]})
    assert {row["run_id"] for row in body["runs"]} == set(tree.steps[tree.points[0]])


async def test_offset_reaches_any_page_directly(api, tree: Tree):
    path = f"experiments/{tree.experiment_id}/runs"
    status, everything = await api(path, params={"offset": "0", "max_results": "1000"})
    assert status == 200
    total = everything["total_count"]
    assert total == 1 + 3 + 9 + 3
    status, last = await api(path, params={"offset": str(total - 2), "max_results": "5"})
    assert status == 200
    assert [row["run_id"] for row in last["runs"]] == [row["run_id"] for row in everything["runs"][-2:]]
    assert last["offset"] == total - 2
    status, beyond = await api(path, params={"offset": str(total + 10)})
    assert (status, beyond["runs"], beyond["total_count"]) == (200, [], total)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("params.alpha ASC", ["0.5", "2", "10"]),  # numbers sort as numbers
        ("params.`alpha` DESC", ["10", "2", "0.5"]),
        ("metrics.loss DESC", ["2", "10", "0.5"]),
        ("attributes.run_name ASC", ["0.5", "10", "2"]),
        ("attributes.duration DESC", ["0.5", "2", "10"]),  # the sweep took well under a second: last
        ("tags.team ASC", ["0.5", "10", "2"]),  # equal values: run id order, the same each time
    ],
)
async def test_sort_on_any_column(api, tree: Tree, order_by: str, expected: list[str]):
    path = f"experiments/{tree.experiment_id}/runs"
    status, body = await api(path, params={"top_level": "true", "order_by": order_by})
    assert status == 200, body
    alphas = [row["params"].get("alpha") for row in body["runs"]]
    if order_by.startswith("tags"):
        assert alphas[-1] is None  # the sweep has no team tag: last
        assert sorted(a for a in alphas if a) == sorted(expected)
        return
    assert [a for a in alphas if a is not None] == expected
    assert alphas[-1] is None  # runs without the value come last, whichever the direction


async def test_filter_lists_matches_flat(api, tree: Tree):
    path = f"experiments/{tree.experiment_id}/runs"
    status, body = await api(
        path, params={"offset": "0", "top_level": "true", "filter": "metrics.test_accuracy > 0.92"}
    )
    assert status == 200, body
    assert {row["run_id"] for row in body["runs"]} == set(tree.points[:2])


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"offset": "-1"}, ["offset"]),
        ({"offset": "x"}, ["offset", "whole number"]),
        ({"offset": "99999999999"}, ["offset"]),
        ({"offset": "0", "max_results": "0"}, ["max_results"]),
        ({"offset": "0", "order_by": "metrics.loss SIDEWAYS"}, ["not a sort clause"]),
        ({"offset": "0", "order_by": "attributes.colour ASC"}, ["not a sortable attribute"]),
        ({"offset": "0", "order_by": "nonsense"}, ["not a sort clause"]),
        ({"top_level": "maybe"}, ["top_level", "true or false"]),
        ({"parent": "../../etc"}, ["not a run id"]),
        ({"offset": "0", "status": "DONE"}, ["status"]),
        ({"offset": "0", "page_token": "abc"}, ["exclude"]),
        ({"offset": "0", "filter": "nonsense"}, ["invalid"]),
        ({"offset": "0", "filter": "metrics.loss > 0", "order_by": "attributes.duration ASC"}, ["duration"]),
    ],
)
async def test_table_bad_input(api, tree: Tree, params: dict, words: list[str]):
    assert_error(*await api(f"experiments/{tree.experiment_id}/runs", params=params), 400, *words)


async def test_table_two_sorts_and_unknown_experiment(api, tree: Tree):
    params = [("offset", "0"), ("order_by", "metrics.loss ASC"), ("order_by", "params.alpha ASC")]
    assert_error(*await api(f"experiments/{tree.experiment_id}/runs", params=params), 400, "once")
    assert_error(*await api("experiments/987654/runs", params={"offset": "0"}), 404, "does not exist")


async def test_pipeline_page(api, tree: Tree):
    point = tree.best
    status, body = await api(f"runs/{point}/pipeline")
    assert status == 200, body
    assert body["model_name"] == "tree-model"
    assert body["metric"] == "test_accuracy"
    steps = {s["step"]: s for s in body["steps"]}
    assert list(steps) == [records.STEP_INGESTION, records.STEP_MODEL_VALIDATION, records.STEP_REGISTRATION]
    assert steps[records.STEP_INGESTION]["rows_ingested"] == 569
    assert steps[records.STEP_MODEL_VALIDATION]["gate"] == "true"
    assert steps[records.STEP_REGISTRATION]["model_version"] == {
        "name": "tree-model",
        "version": "1",
        "aliases": ["challenger"],
    }
    assert steps[records.STEP_INGESTION]["run"]["status"] == "FINISHED"


async def test_sweep_page_marks_the_sweeps_own_best_on_a_tie(api, tree: Tree):
    status, body = await api(f"runs/{tree.sweep}/sweep")
    assert status == 200, body
    assert body["metric"] == "test_accuracy"
    assert body["greater_is_better"] is True
    assert body["best_run_id"] == tree.best
    assert body["best_parameters"] == {"alpha": 0.95}
    order = [p["run"]["run_id"] for p in body["points"]]
    assert order == [tree.points[1], tree.points[0], tree.points[2]]  # the sweep's choice ranks first
    assert [p["rank"] for p in body["points"]] == [1, 2, 3]
    assert [p["best"] for p in body["points"]] == [True, False, False]
    assert body["registered"] == {"name": "tree-model", "version": "1", "aliases": ["challenger"]}


async def test_outline_of_the_wrong_kind_and_bad_ids(api, tree: Tree):
    assert_error(*await api(f"runs/{tree.sweep}/pipeline"), 400, "not a pipeline run")
    assert_error(*await api(f"runs/{tree.points[0]}/sweep"), 400, "not a sweep run")
    assert_error(*await api("runs/nope/sweep"), 400, "not a run id")
    assert_error(*await api(f"runs/{'f' * 32}/pipeline"), 404, "does not exist")


async def test_pipeline_page_lists_a_steps_key_metrics_before_autologs(api, seeded: Seeded, tree: Tree):
    """A training step with more metrics than the page shows: the pipeline's metric and the notebook's own
    come first (they came after autolog's names, which sort before them, so the page hid them)."""
    client = store.client(seeded.settings)
    tags = {records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE}
    run = client.create_run(tree.experiment_id, run_name="keys first", tags=tags).info.run_id
    step_tags = {
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
        records.TAG_PIPELINE_STEP: records.STEP_TRAINING,
        records.PARENT_RUN_ID: run,
        records.TAG_PIPELINE_METRIC: "test_rmse",
        records.TAG_METRICS_NOTEBOOK: json.dumps(["test_r2", "test_rmse"]),
    }
    step = client.create_run(tree.experiment_id, run_name="training", tags=step_tags).info.run_id
    autolog = ("mean_squared_error_X_test", "r2_score_X_test", "training_mae", "training_mse", "training_r2")
    for name in (*autolog, "training_rmse", "training_score", "test_r2", "test_rmse"):
        client.log_metric(step, name, 1.0)
    client.set_terminated(step)
    client.set_terminated(run)
    status, body = await api(f"runs/{run}/pipeline")
    assert status == 200, body
    metrics = list(body["steps"][0]["run"]["metrics"])
    assert metrics[:2] == ["test_rmse", "test_r2"]
    assert sorted(metrics) == sorted((*autolog, "training_rmse", "training_score", "test_r2", "test_rmse"))


async def test_run_detail_lists_the_notebooks_metrics_before_autologs(api, seeded: Seeded, tree: Tree):
    """A notebook run with autolog metrics (whose names sort first): its detail's metrics table and small
    multiples start on the metrics the notebook logged itself."""
    client = store.client(seeded.settings)
    tags = {records.TAG_METRICS_NOTEBOOK: json.dumps(["test_rmse", "test_r2"])}
    run = client.create_run(tree.experiment_id, run_name="notebook keys first", tags=tags).info.run_id
    for name in ("mean_squared_error_X_test", "r2_score_X_test", "training_score", "test_r2", "test_rmse"):
        client.log_metric(run, name, 1.0)
    client.set_terminated(run)
    status, body = await api(f"runs/{run}")
    assert status == 200, body
    assert list(body["metrics"])[:2] == ["test_r2", "test_rmse"]
    assert list(body["metric_histories"])[:2] == ["test_r2", "test_rmse"]
    assert len(body["metrics"]) == len(body["metric_histories"]) == 5
