"""A pipeline reading `data: {dataset: NAME}` records the version it read, and prune keeps that snapshot
while a model version registered from the run needs it (real kernels, real SQLite store)."""

from __future__ import annotations

import json

from mlops_nb import cli, datasets, records
from mlops_nb.datasets import prune
from tests.integration.pipeline_project import MODEL_NAME, Project, make_data, project_fixture  # noqa: F401


def test_a_pipeline_reading_a_dataset_records_the_version_and_prune_keeps_it(
    project: Project, capsys
) -> None:
    read = datasets.add("fixture-data", project.data, key=None)
    project.write_pipeline(
        data={"dataset": "fixture-data", "version": "latest", "test_split": {"fraction": 0.25, "seed": 3}}
    )
    code = cli.main(["run", str(project.pipeline), "--json", "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary["error"]

    client = project.client
    pipeline_run = client.get_run(summary["run_id"])
    ingestion = project.steps(summary["run_id"])["ingestion"]
    for run in (pipeline_run, ingestion):
        assert run.data.tags[records.TAG_DATASET_NAME] == "fixture-data"
        assert run.data.tags[records.TAG_DATASET_VERSION] == "1"
        inputs = {i.dataset.name: i.dataset.digest for i in run.inputs.dataset_inputs}
        assert inputs["fixture-data"] == read.digest
    assert ingestion.data.tags[records.TAG_DATA_ROWS] == "400"
    assert client.get_model_version(MODEL_NAME, "1").tags[records.TAG_PIPELINE_RUN] == summary["run_id"]

    newer = datasets.add("fixture-data", make_data(project.root / "other.csv", seed=5))
    for version in (read, newer):  # both version records deleted: only the model version still needs one
        client.delete_run(version.run_id)
    report = prune.prune()
    assert report.deleted == [newer.snapshot]
    assert read.snapshot.is_file() and not newer.snapshot.exists()
