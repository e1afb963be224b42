"""What the run detail shows of real pipeline runs in a committed repository: the code version on the
pipeline run and every step, the failing cell, the gate tables with raw values, the registered version and
its aliases, the data each evaluation score was computed on, the chart defaults of a compare."""

from __future__ import annotations

import subprocess

from mlops_nb import explore, records
from mlops_nb.exceptions import PipelineFailedError
from mlops_nb.explore import artifacts
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (the fixture)


def _commit(project: Project) -> str:
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=project.root, check=True
        )
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, check=True, capture_output=True)
    return out.stdout.decode().strip()


def _run(project: Project, **parameters: str) -> str:
    extra = {records.TAG_RELEASE: records.RELEASE_WORKING_COPY}  # as `mlops-nb run` tags it
    options = run.RunOptions(parameters=parameters, progress=False, env="dev", extra_tags=extra)
    try:
        return run.run(project.pipeline, options).run_id
    except PipelineFailedError as exc:
        return exc.result.run_id


def test_outcomes_of_real_pipeline_runs(project: Project) -> None:
    commit = _commit(project)
    first = _run(project)
    project.client.set_registered_model_alias(MODEL_NAME, "champion-dev", "1")
    gated = _run(project)  # the same model again: min_absolute_change against the champion fails
    broken = _run(project, mode="raise")

    detail = explore.get_run(first)
    assert detail["code"]["git_commit"] == commit  # was "–" on a pipeline run
    assert detail["code"]["notebook_hash"] and detail["code"]["release"] == records.RELEASE_WORKING_COPY
    steps = project.steps(first)
    # A run recorded before pipeline runs and steps carried the code version shows the training step's.
    for run_id in (first, steps["ingestion"].info.run_id, steps["evaluation"].info.run_id):
        for tag in (records.SOURCE_GIT_COMMIT, records.TAG_NOTEBOOK_HASH):
            if tag in project.client.get_run(run_id).data.tags:
                project.client.delete_tag(run_id, tag)
    for run_id in (first, steps["ingestion"].info.run_id, steps["evaluation"].info.run_id):
        code = explore.get_run(run_id)["code"]
        assert code["git_commit"] == commit and code["notebook_hash"], run_id
        assert code["from_run_id"] == steps["training"].info.run_id
        assert code["release"] == records.RELEASE_WORKING_COPY
    assert explore.get_run(steps["training"].info.run_id)["code"]["from_run_id"] is None
    assert detail["registration"] == {
        "name": MODEL_NAME,
        "version": "1",
        "aliases": ["challenger", "champion-dev"],
        "step_run_id": steps["registration"].info.run_id,
    }
    assert explore.get_run(steps["registration"].info.run_id)["registration"]["version"] == "1"
    assert detail["metric_data"]["test_accuracy"]["context"] == "testing"
    assert detail["error"] is None

    failed = explore.get_run(gated)
    assert failed["status"] == "FAILED" and failed["error"]["kind"] == "gate"
    assert "min_absolute_change check failed" in failed["error"]["message"]
    assert failed["error"]["failed_step"]["name"] == records.STEP_MODEL_VALIDATION
    model = failed["gates"]["model"]
    assert not model["passed"]
    rows = {check["kind"]: check for check in model["checks"]}
    assert rows["threshold"]["verdict"] == "pass" and rows["threshold"]["candidate"] is not None  # raw value
    assert rows["min_absolute_change"]["verdict"] == "fail"
    assert rows["min_absolute_change"]["baseline"] == rows["min_absolute_change"]["candidate"]
    data = failed["gates"]["data"]
    drift = [c for c in data["checks"] if c["check"] in ("psi", "ks") and c["verdict"] == "pass"]
    assert drift and all(isinstance(c["value"], float) and c["threshold"] == 0.25 for c in drift)
    assert failed["registration"] is None
    step = explore.get_run(failed["error"]["failed_step"]["run_id"])
    assert step["gates"]["model"]["checks"] == model["checks"]

    crashed = explore.get_run(broken)
    cell = crashed["error"]["cell"]
    assert crashed["error"]["kind"] == "cell_error" and cell["index"] == 5
    assert 'raise RuntimeError("boom from the notebook")' in cell["source"]
    training = explore.get_run(crashed["error"]["failed_step"]["run_id"])
    assert training["error"]["cell"]["source"] == cell["source"]

    compared = explore.compare([first, gated])
    assert compared["chart"]["default_metric"] == "test_accuracy"  # the pipeline file's model.metric
    accuracy = next(m for m in compared["metrics"] if m["key"] == "test_accuracy")
    assert [d["context"] for d in accuracy["computed_on"]] == ["testing"] * 2


def test_the_artifact_browser_reads_a_pipeline_runs_files(project: Project) -> None:
    run_id = _run(project)
    listed = artifacts.list_artifacts(run_id, records.ARTIFACT_PIPELINE_FILE_DIR)
    assert records.ARTIFACT_PIPELINE_SUMMARY in [e["path"] for e in listed["entries"]]
    assert b'"steps"' in artifacts.read_artifact(run_id, records.ARTIFACT_PIPELINE_SUMMARY)
