"""What a run records for the panel and the widget: names, code version, which data each metric was computed
on, and which params and metrics are the user's; read back from a real pipeline run in a committed git project."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from mlops_nb import cli, records
from mlops_nb.capture import code
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import columns, metric_data
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def _git(project: Project, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(
        command, cwd=project.root, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_pipeline_run_names_code_version_and_metric_data(project: Project, capsys) -> None:
    (project.root / ".gitignore").write_text(".mlops/\ndownloads/\n", encoding="utf-8")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "init")
    commit = _git(project, "rev-parse", "HEAD")

    status = cli.main(["run", str(project.pipeline), "-p", "C=0.5", "--json", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert status == 0, summary["error"]
    client = project.client
    parent = client.get_run(summary["run_id"])
    steps = project.steps(parent.info.run_id)

    # names: the pipeline and the parameters its file and the command line set; steps under it
    assert parent.info.run_name == "fixture C=0.5 max_iter=200"
    assert {name: run.info.run_name for name, run in steps.items()} == {
        name: f"fixture · {name}" for name in steps
    }

    # the code version on the pipeline run and on every step, not only in the training kernel
    notebook_hash = code.notebook_hash(json.loads(project.notebook.read_text(encoding="utf-8")))
    for run in [parent, *steps.values()]:
        tags = run.data.tags
        assert tags[records.SOURCE_GIT_COMMIT] == commit, run.info.run_name
        assert tags[records.SOURCE_GIT_BRANCH] == "main"
        assert tags[records.TAG_GIT_DIRTY] == "false"
        assert tags[records.TAG_NOTEBOOK_HASH] == notebook_hash
        assert tags[records.TAG_RELEASE] == records.RELEASE_WORKING_COPY
        assert tags[records.TAG_PIPELINE_METRIC] == "test_accuracy"

    # which data: the parent's holdout scores through MLflow's own metric-dataset link ...
    on_parent = metric_data.computed_on(parent, client)
    holdout = on_parent["test_accuracy"]
    assert holdout["source"] == "mlflow" and holdout["dataset"] == "fixture-holdout"
    assert holdout["context"] == "testing" and len(holdout["digest"]) == 32
    on_evaluation = metric_data.computed_on(steps["evaluation"], client)
    assert on_evaluation["test_accuracy.segment.0"]["digest"] == holdout["digest"]
    # ... the training step's own score on the notebook's validation split through its tag
    training = steps["training"]
    on_training = metric_data.computed_on(training, client)
    validation = {d.dataset.name: d.dataset.digest for d in training.inputs.dataset_inputs}["validation"]
    assert on_training["val_accuracy"] == {
        "dataset": "validation", "digest": validation, "context": "validation", "source": "notebook"
    }  # fmt: skip
    assert on_training["val_accuracy"]["digest"] != holdout["digest"]

    # the classification the panel and the widget share
    assert columns.classify_params(training.data.params, training.data.tags) == {
        "C": "user", "max_iter": "user", "mode": "user", "target": "user", "data_path": "internal"
    }  # fmt: skip
    parent_kinds = columns.classify_metrics(parent.data.metrics, parent.data.tags)
    assert parent_kinds["test_accuracy"] == "pipeline" and parent_kinds["test_f1_macro"] == "evaluation"
    assert columns.classify_metrics(training.data.metrics, training.data.tags) == {"val_accuracy": "notebook"}
    assert columns.default_metric(columns.merge([parent_kinds])) == "test_accuracy"


def test_log_metrics_split_names_the_data(project: Project) -> None:
    import mlops_nb

    mlops_nb.track(experiment="splits", autolog=False)
    try:
        mlops_nb.log_split(train=np.array([[1.0], [2.0]]), holdout=np.array([[3.0]]))
        with pytest.raises(UsageError, match="'other' is not a split"):
            mlops_nb.log_metrics({"score": 1.0}, split="other")
        mlops_nb.log_metrics({"score": 0.5}, split="holdout")
        mlops_nb.log_metrics({"train_loss": 0.1, "mystery": 2.0})
        mlops_nb.log_metrics({"test_" + "x" * 240: 1.0})  # too long for a tag key with the prefix
        run_id = mlops_nb.stop()
    finally:
        mlops_nb.stop()
    run = project.client.get_run(run_id)
    on = metric_data.computed_on(run, project.client)
    assert on["score"]["dataset"] == "holdout" and on["score"]["context"] == "testing"
    assert on["train_loss"]["dataset"] == "train"
    assert "mystery" not in on  # neither given nor implied by its name
    assert json.loads(run.data.tags[records.TAG_METRICS_NOTEBOOK])[:3] == ["score", "train_loss", "mystery"]
    assert run.info.status == "FINISHED"
    assert "score" not in json.loads(run.data.tags.get(records.TAG_PARAMS_USER, "[]"))
