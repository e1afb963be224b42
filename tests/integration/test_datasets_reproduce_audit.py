"""A model trained on a dataset version reproduces after that version's record was deleted: prune keeps its
snapshot for the model, and reproduction reads it (real git repository, real kernels, real SQLite store)."""

from __future__ import annotations

import subprocess

from mlops_nb import datasets
from mlops_nb.datasets import prune
from mlops_nb.pipelines import run
from mlops_nb.pipelines.reproduce import ReproduceOptions, reproduce
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401


def _git(project: Project, *args: str) -> None:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    subprocess.run(command, cwd=project.root, check=True, capture_output=True)


def test_a_model_reproduces_from_the_kept_snapshot_of_a_deleted_dataset_version(project: Project) -> None:
    read = datasets.add("fixture-data", project.data)
    project.write_pipeline(data={"dataset": "fixture-data", "test_split": {"fraction": 0.25, "seed": 3}})
    (project.root / ".gitignore").write_text(".mlops/\ndownloads/\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "project")
    trained = run.run(project.pipeline, run.RunOptions(progress=False))

    project.client.delete_run(read.run_id)  # the dataset version's record is deleted in MLflow
    assert prune.prune().deleted == [] and read.snapshot.is_file()  # kept: the model version needs it

    found = reproduce(MODEL_NAME, trained.model_version, options=ReproduceOptions(progress=False))
    assert found.matched, found.reason
    assert found.data["origin"] == "dataset fixture-data@1"


def test_a_run_whose_dataset_snapshot_was_pruned_reproduces_from_its_ingested_rows(project: Project) -> None:
    read = datasets.add("fixture-data", project.data)
    project.write_pipeline(data={"dataset": "fixture-data", "test_split": {"fraction": 0.25, "seed": 3}})
    (project.root / ".gitignore").write_text(".mlops/\ndownloads/\n", encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "project")
    trained = run.run(project.pipeline, run.RunOptions(progress=False))

    project.client.delete_model_version(MODEL_NAME, trained.model_version)  # nothing registered needs it now
    project.client.delete_run(read.run_id)
    assert prune.prune().deleted == [read.snapshot]

    found = reproduce(run_id=trained.run_id, options=ReproduceOptions(progress=False))
    assert found.matched, found.reason
    assert found.data["origin"].startswith("snapshot runs:/")  # the rows its ingestion kept
