"""The Datasets and Reproduce routes on a real project: a real `mlops-nb data add`, one real pipeline run
reading that dataset (model version 1), and a real reproduction of it run by the server in the background.

The tests share the project and run in file order; each says what state it starts from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_nb import cli, records, store
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import (
    MODEL_NAME,
    Project,
    commit,
    inside,
    make_data,
    new_project,
)
from tests.server import contract

DATASET = "fixture-data"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A committed project whose pipeline read dataset version 1 (model version 1); version 2 is newer data."""
    project = new_project(tmp_path_factory.mktemp("datasets-api") / "proj")
    root = project.root
    (root / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
    with inside(root):
        assert cli.main(["data", "add", DATASET, str(project.data), "--description", "first cut"]) == 0
        project.write_pipeline(
            data={"dataset": DATASET, "version": "latest", "test_split": {"fraction": 0.25, "seed": 3}}
        )
        commit(root)
        run.run(project.pipeline, run.RunOptions(progress=False))
        assert cli.main(["data", "add", DATASET, str(make_data(root / "newer.csv", rows=120, seed=5))]) == 0
        yield project


@pytest.fixture
def jp_root_dir(project: Project) -> Path:
    return project.root


@pytest.fixture
def jp_server_config(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv(records.ENV_PROJECT, str(project.root))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


@pytest.fixture
def api(jp_fetch):
    async def call(path: str, *, method: str = "GET", body: object = None, params=None) -> tuple[int, dict]:
        kwargs: dict = {"method": method, "raise_error": False, "params": params}
        if method == "POST":
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body or {})
        response = await jp_fetch("mlops-nb", "api", *path.split("/"), **kwargs)
        answer = json.loads(response.body or b"null")
        contract.check(path, method, response.code, answer)
        return response.code, answer

    return call


async def test_the_datasets_list_shows_versions_with_rows_and_the_model_versions_trained_on_each(api) -> None:
    status, body = await api("datasets")
    assert status == 200, body
    [dataset] = body["datasets"]
    assert dataset["name"] == DATASET
    newer, first = dataset["versions"]
    assert (newer["version"], newer["rows"], newer["model_versions"]) == (2, 120, [])
    assert (first["version"], first["rows"], first["num_columns"]) == (1, 400, 6)
    assert first["description"] == "first cut" and first["kept_by"] == "snapshot"
    assert first["model_versions"] == [{"name": MODEL_NAME, "version": "1"}]


async def test_a_dataset_version_shows_its_schema_statistics_and_models(api) -> None:
    status, body = await api(f"datasets/{DATASET}/versions/1")
    assert status == 200, body
    assert body["name"] == DATASET and body["version"] == 1 and body["rows"] == 400
    assert body["columns"] == ["x1", "x2", "x3", "x4", "segment", "label"]
    profile = body["profile"]
    assert [c["name"] for c in profile["schema"]] == body["columns"]
    assert profile["num_rows"] == 400 and profile["digest"] == body["digest"]
    assert profile["columns"]["x1"]["kind"] == "numeric" and profile["columns"]["x1"]["count"] == 400
    assert body["model_versions"] == [{"name": MODEL_NAME, "version": "1"}]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"datasets/{DATASET}/versions/9", 404, f"Dataset {DATASET!r} has no version 9."),
        ("datasets/nothing-here/versions/1", 404, "There is no dataset named 'nothing-here'."),
        (f"datasets/{DATASET}/versions/latest", 400, "Dataset version 'latest' is not a version number."),
        (f"datasets/{DATASET}/versions/0", 400, "Dataset version '0' is not a version number."),
        ("datasets/-bad/versions/1", 400, "'-bad' is not a dataset name."),
    ],
)
async def test_unknown_or_malformed_dataset_versions_are_refused(
    api, path: str, status: int, message: str
) -> None:
    answer, body = await api(path)
    assert (answer, body["message"]) == (status, message), body


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (f"models/{MODEL_NAME}/versions/1/reproduce", {"tolerance": -1}, 400, "tolerance must be a number"),
        (
            f"models/{MODEL_NAME}/versions/1/reproduce",
            {"data": "tape"},
            400,
            "data 'tape' is not a data mode",
        ),
        (f"models/{MODEL_NAME}/versions/1/reproduce", {"strict_env": "yes"}, 400, "strict_env must be true"),
        (
            f"models/{MODEL_NAME}/versions/1/reproduce",
            {"tolerence": 0},
            400,
            "Unknown field(s) ['tolerence']",
        ),
        (f"models/{MODEL_NAME}/versions/1/reproduce", "[1]", 400, "must be a JSON object"),
        (f"models/{MODEL_NAME}/versions/x/reproduce", {}, 400, "Model version 'x' is not a version number"),
        (f"models/{MODEL_NAME}/versions/7/reproduce", {}, 404, "does not exist"),
        ("models/no-such-model/versions/1/reproduce", {}, 404, "does not exist"),
        ("runs/not-a-run/reproduce", {}, 400, "'not-a-run' is not a run id"),
        ("runs/0123456789abcdef0123456789abcdef/reproduce", {}, 404, "does not exist"),
    ],
)
async def test_bad_reproduce_requests_are_refused_before_any_job_starts(
    api, path: str, body: object, status: int, message: str
) -> None:
    answer, error = await api(path, method="POST", body=body)
    assert answer == status and message in error["message"], error
    _, jobs = await api("reproductions")
    assert jobs["jobs"] == []


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("reproductions/xyz", None, 400, "'xyz' is not a reproduction job id."),
        ("reproductions/0123456789abcdef0123456789abcdef", None, 404, "No reproduction job"),
        (
            "reproductions/0123456789abcdef0123456789abcdef",
            {"wait": "soon"},
            400,
            "wait='soon' is not a number",
        ),
        ("reproductions/0123456789abcdef0123456789abcdef", {"wait": "61"}, 400, "from 0 to 60"),
        ("reproductions", {"job": "1"}, 400, "Unknown query parameter(s): job."),
    ],
)
async def test_bad_job_requests_are_refused(api, path: str, params, status: int, message: str) -> None:
    answer, error = await api(path, params=params)
    assert answer == status and message in error["message"], error


async def _verdict(api, job_id: str) -> dict:
    """Poll the job (each answer held until it ends or 30 s pass) until it has ended."""
    for _ in range(20):
        status, job = await api(f"reproductions/{job_id}", params={"wait": "30"})
        assert status == 200, job
        if job["state"] in ("finished", "failed"):
            return job
    raise AssertionError(f"the reproduction {job_id} did not end in 10 minutes: {job}")


async def test_reproduce_a_model_version_in_the_background_to_its_verdict(api, project: Project) -> None:
    path = f"models/{MODEL_NAME}/versions/1/reproduce"
    status, job = await api(path, method="POST", body={"tolerance": 0})
    assert status == 200, job
    assert job["state"] in ("queued", "running") and job["target"] == {"model": MODEL_NAME, "version": "1"}
    assert job["result"] is None and job["error"] is None

    status, refused = await api(path, method="POST", body={})  # the first one has not ended yet
    assert status == 409, refused
    assert (
        f"Model {MODEL_NAME!r} version 1 is already being reproduced (job {job['id']}" in refused["message"]
    )

    ended = await _verdict(api, job["id"])
    assert ended["state"] == "finished", ended["error"]
    result = ended["result"]
    assert result["verdict"] == records.VERDICT_REPRODUCED, result["reason"]
    assert result["data"]["kind"] == "dataset"
    metrics = {m["metric"]: m for m in result["metrics"]}
    assert "test_accuracy" in metrics
    assert all(m["match"] and m["difference"] == 0.0 for m in metrics.values())
    reproduction = store.client().get_run(result["run_id"])
    assert reproduction.data.tags[records.TAG_REPRODUCTION_OF] == result["reproduces"]

    status, detail = await api(f"models/{MODEL_NAME}/versions/1")
    assert status == 200, detail
    assert detail["reproduction"]["verdict"] == records.VERDICT_REPRODUCED
    assert detail["reproduction"]["run_id"] == result["run_id"]
    _, jobs = await api("reproductions")
    assert [j["id"] for j in jobs["jobs"]] == [job["id"]]


async def test_a_run_that_cannot_be_reproduced_ends_the_job_with_the_reason(api) -> None:
    status, listed = await api(f"datasets/{DATASET}/versions/1")
    record_run = listed["run_id"]  # a dataset version's record: no pipeline run behind it
    status, job = await api(f"runs/{record_run}/reproduce", method="POST", body={})
    assert status == 200, job
    ended = await _verdict(api, job["id"])
    assert ended["state"] == "failed" and ended["result"] is None
    assert ended["error"]["error"] in ("NotFoundError", "UsageError", "ConfigError"), ended["error"]
    assert record_run in ended["error"]["message"] or "pipeline" in ended["error"]["message"], ended["error"]
