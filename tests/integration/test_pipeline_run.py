"""`mlops-nb run` end to end: real kernels (papermill), a real SQLite store, the registry read back."""

from __future__ import annotations

import json

import nbformat

from mlops_nb import cli, records
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (the fixture)


def test_passing_run_records_steps_artifacts_and_registers_a_challenger(project: Project, capsys) -> None:
    code = cli.main(["run", str(project.pipeline), "-p", "C=0.5", "--json", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary["error"]
    assert summary["status"] == "FINISHED"
    assert summary["parameters"]["C"] == 0.5  # typed by the contract, not a string

    client = project.client
    parent = client.get_run(summary["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[records.TAG_PIPELINE_KIND] == records.PIPELINE_KIND_PIPELINE
    assert parent.data.params["C"] == "0.5"
    assert "test_accuracy" in parent.data.metrics

    steps = project.steps(parent.info.run_id)
    assert list(steps) == [step.name for step in run.STEPS]
    assert all(s.info.status == "FINISHED" for s in steps.values())
    assert all(s.data.tags[records.PARENT_RUN_ID] == parent.info.run_id for s in steps.values())

    ingestion = steps["ingestion"]
    assert ingestion.data.tags[records.TAG_DATA_ROWS] == "400"
    assert ingestion.inputs.dataset_inputs[0].dataset.digest == ingestion.data.tags[records.TAG_DATA_DIGEST]
    assert {a.path for a in client.list_artifacts(ingestion.info.run_id, "data")} == {
        "data/profile.json",
        "data/train.parquet",
        "data/test.parquet",
    }
    assert steps["data_validation"].data.tags[records.TAG_GATE_PASSED] == "no_reference"

    training = steps["training"]
    assert training.data.tags[records.TAG_MODE] == records.MODE_PIPELINE  # %mlops track attached to the step
    assert training.data.metrics["val_accuracy"] > 0.5
    out = client.download_artifacts(
        training.info.run_id, "notebook/classifier.ipynb", str(project.root / "downloads")
    )
    executed = nbformat.read(out, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "C = 0.5" in injected[0].source
    assert "data_path = " in injected[0].source

    evaluation = steps["evaluation"].data.metrics
    assert {"test_accuracy", "test_f1_macro", "test_roc_auc"} <= set(evaluation)
    assert {f"test_accuracy.segment.{s}" for s in ("0", "1", "2")} <= set(evaluation)

    model_report = project.artifact_json(steps["model_validation"].info.run_id, records.ARTIFACT_MODEL_REPORT)
    assert model_report["passed"] is True
    assert {c["kind"] for c in model_report["checks"]} == {"threshold", "min_absolute_change"}

    version = client.get_model_version_by_alias(MODEL_NAME, "challenger")
    assert str(version.version) == summary["model_version"] == "1"
    assert version.run_id == training.info.run_id
    assert version.tags[records.TAG_PIPELINE_RUN] == parent.info.run_id
    assert version.tags[records.TAG_NOTEBOOK_HASH] == training.data.tags[records.TAG_NOTEBOOK_HASH]
    assert (
        version.tags[records.dataset_digest_tag("ingested")] == ingestion.data.tags[records.TAG_DATA_DIGEST]
    )
    assert records.dataset_digest_tag("train") in version.tags
    assert version.tags[records.gate_tag("model")] == "passed"
    assert "champion" not in client.get_registered_model(MODEL_NAME).aliases


def test_environment_selects_its_experiment(project: Project) -> None:
    result = run.run(project.pipeline, run.RunOptions(env="dev", progress=False))
    assert project.client.get_experiment(result.experiment_id).name == "fixture-dev"
    assert project.client.get_run(result.run_id).data.tags[records.TAG_PIPELINE_ENV] == "dev"


def test_columns_the_notebook_leaves_out_of_its_split_are_not_new_to_the_data_gate(project: Project) -> None:
    from mlops_nb.registry.promotion import promote

    features = "[['x1', 'x2', 'x3', 'x4']]"
    notebook = nbformat.read(project.notebook, as_version=4)
    logged = "mlops_nb.log_split(train=frame.loc[X_train.index], validation=frame.loc[X_val.index], seed=0)"
    (cell,) = [c for c in notebook.cells if logged in c.source]
    cell.source = cell.source.replace(logged, f"mlops_nb.log_split(train=X_train{features}, seed=0)")
    nbformat.write(notebook, project.notebook)  # the split lacks `segment` and `label` of the source
    project.write_pipeline(gates={"model": {"test_accuracy": {"threshold": 0.3, "greater_is_better": True}}})

    first = run.run(project.pipeline, run.RunOptions(progress=False))
    second = run.run(project.pipeline, run.RunOptions(progress=False))  # against the previous run
    promote(MODEL_NAME, first.model_version or "", force=True, reason="first model")
    third = run.run(project.pipeline, run.RunOptions(progress=False))  # against the champion
    for result, origin in ((second, first.run_id), (third, "@champion")):
        gate = project.steps(result.run_id)["data_validation"]
        report = project.artifact_json(gate.info.run_id, records.ARTIFACT_DATA_REPORT)
        assert origin in report["reference_source"]
        new = {c["column"]: c["verdict"] for c in report["checks"] if c["check"] == "new_column"}
        assert new == {"segment": "skip", "label": "skip"}
        assert result.status == "FINISHED"
