"""The API over a store filled by executing the example notebook for real (papermill, real kernels, git)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import papermill

REPO = Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def notebook_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git project where the example notebook ran twice with different parameters."""
    root = tmp_path_factory.mktemp("nbproject")
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n', encoding="utf-8")
    shutil.copy(REPO / "notebooks" / "train_classifier.ipynb", root / "train_classifier.ipynb")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "init")
    env = {"MLOPS_NB_PROJECT": str(root), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("MLOPS_NB_RUN_ID", raising=False)
    for alpha in (0.001, 0.0001):
        papermill(
            root / "train_classifier.ipynb",
            root / f"out-{alpha}.ipynb",
            params={"epochs": 3, "alpha": alpha},
            env=env,
        )
    mp.undo()
    return root


@pytest.fixture
def jp_server_config(notebook_project: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(notebook_project))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


async def test_browse_compare_and_trace_notebook_runs(api, jp_fetch):
    status, body = await api("experiments")
    assert status == 200
    experiment = next(e for e in body["experiments"] if e["name"] == "train_classifier")
    assert experiment["run_count"] == 2

    status, page = await api(f"experiments/{experiment['experiment_id']}/runs")
    assert status == 200
    assert len(page["runs"]) == 2
    assert {row["params"]["alpha"] for row in page["runs"]} == {"0.001", "0.0001"}
    assert {row["mode"] for row in page["runs"]} == {"interactive"}
    assert all(row["status"] == "FINISHED" for row in page["runs"])
    run_id = page["runs"][0]["run_id"]

    status, detail = await api(f"runs/{run_id}")
    assert status == 200, detail
    splits = {s["name"]: s for s in detail["splits"]}
    assert set(splits) == {"train", "test"}
    assert len(splits["train"]["digest"]) == 32
    assert splits["train"]["num_rows"] + splits["test"]["num_rows"] == 569  # the breast-cancer data set
    assert splits["train"]["context"] == "training"
    numeric = next(stats for stats in splits["train"]["columns"].values() if stats["kind"] == "numeric")
    assert len(numeric["histogram"]["counts"]) == 20
    assert detail["code"]["git_commit"]
    assert detail["code"]["notebook_hash"]
    assert detail["code"]["snapshot_path"].endswith(".ipynb")
    assert any(len(points) == 3 for points in detail["metric_histories"].values())  # per-epoch metrics

    status, snapshot = await api(f"runs/{run_id}/snapshot", method="POST", body={})
    assert status == 200, snapshot
    opened = await jp_fetch("api", "contents", *snapshot["path"].split("/"))
    assert json.loads(opened.body)["type"] == "notebook"

    status, compared = await api(
        "compare", method="POST", body={"run_ids": [r["run_id"] for r in page["runs"]], "diff_only": True}
    )
    assert status == 200
    assert "alpha" in [p["key"] for p in compared["params"]]
    curve = next(m for m in compared["metrics"] if len(m["steps"]) == 3)
    assert all(None not in s["values"] for s in curve["series"])

    status, graph = await api(f"lineage/runs/{run_id}")
    assert status == 200
    types = {node["type"] for node in graph["nodes"]}
    assert {"run", "dataset", "notebook", "commit"} <= types
