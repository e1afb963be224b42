"""GET models/{name}/versions/{version}/monitoring on a real jupyter_server and a real project: one real
pipeline run (version 1, served as champion-dev), then a recorded monitoring pass over a shifted log; every
answer checked against api/openapi.yaml. The tests share the project and run in file order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_nb import records, store
from mlops_nb.monitoring import service, window
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import MODEL_NAME, Project, inside, new_project
from tests.monitoring.logs import write_log
from tests.server import contract

ALIAS = "champion-dev"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = new_project(tmp_path_factory.mktemp("monitoring-api") / "proj")
    with inside(project.root):
        project.write_pipeline()
        run.run(project.pipeline, run.RunOptions(env="dev", progress=False))
        store.writer().set_alias(MODEL_NAME, ALIAS, "1")
        yield project


@pytest.fixture
def jp_root_dir(project: Project) -> Path:
    return project.root


@pytest.fixture
def jp_server_config(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv(records.ENV_PROJECT, str(project.root))
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


@pytest.fixture
def call(jp_fetch):
    async def send(path: str) -> tuple[int, dict]:
        response = await jp_fetch("mlops-nb", "api", *path.split("/"), raise_error=False)
        answer = json.loads(response.body or b"null")
        contract.check(path, "GET", response.code, answer)
        return response.code, answer

    return send


async def test_before_any_pass_the_view_is_empty(call) -> None:
    code, body = await call(f"models/{MODEL_NAME}/versions/1/monitoring")
    assert code == 200 and body == {
        "name": MODEL_NAME,
        "version": "1",
        "passes": [],
        "latest": None,
        "triggers": [],
    }


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("models/no-such-model/versions/1/monitoring", 404, "does not exist"),
        (f"models/{MODEL_NAME}/versions/99/monitoring", 404, "does not exist"),
        (f"models/{MODEL_NAME}/versions/one/monitoring", 400, "not a version number"),
    ],
)
async def test_unknown_models_are_404_and_bad_versions_400(call, path: str, status: int, words: str) -> None:
    code, body = await call(path)
    assert code == status and words in body["message"], body


async def test_a_recorded_pass_and_its_trigger(call, project: Project) -> None:
    rng = np.random.default_rng(9)
    inputs = pd.DataFrame({f"x{i}": rng.normal(size=500) for i in range(1, 5)})
    inputs["x1"] += 2.0
    inputs["segment"] = rng.integers(0, 3, size=500)
    start = datetime.now(UTC) - timedelta(minutes=20)
    write_log(window.log_directory(MODEL_NAME), inputs, np.zeros(500), alias=ALIAS, start=start)
    result = service.monitor(MODEL_NAME, ALIAS, last="1h")
    code, body = await call(f"models/{MODEL_NAME}/versions/1/monitoring")
    assert code == 200
    assert [p["run_id"] for p in body["passes"]] == [result["run_id"]] and body["passes"][0][
        "verdict"
    ] == "drift"
    latest = body["latest"]
    assert (
        latest["features"]["x1"]["verdict"] == "drift"
        and len(latest["features"]["x1"]["psi_over_time"]) == 12
    )
    (trigger,) = body["triggers"]
    assert trigger["kind"] == "drift" and trigger["monitoring_run_id"] == result["run_id"]
    assert trigger["state"] == "pending" and trigger["run_id"] is None and trigger["env"] == "dev"
