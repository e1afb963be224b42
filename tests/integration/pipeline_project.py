"""A throw-away project for pipeline tests: data file, pipeline file, the fixture notebook, a SQLite store."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_nb import records, store

NOTEBOOK = Path(__file__).parent / "notebooks" / "classifier.ipynb"
MODEL_NAME = "fixture-classifier"


def make_data(path: Path, *, rows: int = 400, seed: int = 0, drop: str | None = None) -> Path:
    """A binary classification table: numeric features x1..x4, a `segment` (0/1/2) and `label`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(1, 5)})
    frame["segment"] = rng.integers(0, 3, size=rows)
    frame["label"] = ((frame.x1 + 0.5 * frame.x2 + rng.normal(scale=0.5, size=rows)) > 0).astype(int)
    if drop:
        frame = frame.drop(columns=[drop])
    frame.to_csv(path, index=False)
    return path


@dataclass
class Project:
    """Paths and the store of a test project."""

    root: Path
    pipeline: Path
    data: Path
    notebook: Path

    @property
    def client(self) -> Any:
        return store.client()

    def write_pipeline(self, **changes: Any) -> Path:
        """Rewrite the pipeline file with top-level `changes` merged in."""
        spec = {
            "name": "fixture",
            "notebook": str(self.notebook),
            "parameters": {"max_iter": 200},
            "smoke": {"max_iter": 20},
            "data": {"source": str(self.data), "test_split": {"fraction": 0.25, "seed": 3}},
            "evaluation": {"target": "label", "task": "classification", "slice_column": "segment"},
            "model": {"name": MODEL_NAME, "metric": "test_accuracy"},
            "gates": {
                "data": {"psi": 0.25, "ks": 0.25},
                "model": {
                    "test_accuracy": {
                        "threshold": 0.6,
                        "min_absolute_change": 0.001,
                        "greater_is_better": True,
                    }
                },
            },
            "timeouts": {"cell": 120, "run": 300},
            "environments": {"dev": {"experiment": "fixture-dev", "resources": {"workers": 2}}},
        }
        spec.update(changes)
        self.pipeline.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        return self.pipeline

    def steps(self, pipeline_run_id: str) -> dict[str, Any]:
        """The step runs of a pipeline run by step name (the last attempt wins)."""
        client = self.client
        parent = client.get_run(pipeline_run_id)
        runs = client.search_runs(
            [parent.info.experiment_id],
            f"tags.`{records.TAG_PIPELINE_RUN}` = '{pipeline_run_id}' and "
            f"tags.`{records.TAG_PIPELINE_KIND}` = '{records.PIPELINE_KIND_STEP}'",
            order_by=["attributes.start_time ASC"],
        )
        return {r.data.tags[records.TAG_PIPELINE_STEP]: r for r in runs}

    def artifact_json(self, run_id: str, path: str) -> Any:
        local = self.client.download_artifacts(run_id, path, str(self.root / "downloads"))
        return json.loads(Path(local).read_text(encoding="utf-8"))


def new_project(root: Path, notebook: Path = NOTEBOOK) -> Project:
    """A project folder at `root`: `mlops.toml`, `downloads/`, `notebook` under `notebooks/` and `data.csv`;
    no pipeline file yet (`Project.write_pipeline`)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "downloads").mkdir()
    (root / "mlops.toml").write_text("", encoding="utf-8")
    shutil.copy(notebook, root / "notebooks" / notebook.name)
    return Project(
        root, root / "pipeline.yaml", make_data(root / "data.csv"), root / "notebooks" / notebook.name
    )


def enter(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make `root` the working directory and the project, as for a user who set no MLflow variables."""
    monkeypatch.chdir(root)
    monkeypatch.setenv(records.ENV_PROJECT, str(root))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)  # mlflow.set_registry_uri exports it


@contextlib.contextmanager
def inside(root: Path) -> Iterator[None]:
    """`enter(root)` for the block (a module-scoped fixture has no `monkeypatch`)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        enter(monkeypatch, root)
        yield


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a test identity; its output."""
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(root: Path, message: str = "project") -> str:
    """A repository in `root` with everything committed (a clean tree, as the lineage gates want); the
    commit."""
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project (its own SQLite store) as the working directory."""
    proj = new_project(tmp_path / "proj")
    enter(monkeypatch, proj.root)
    proj.write_pipeline()
    return proj


def terminate_when_training(project: Project, args: list[str], trainings: int = 1) -> int:
    """Run `mlops-nb ARGS` in its own process, send it SIGTERM once `trainings` training steps are
    RUNNING, and return its exit code."""
    import os
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_nb.cli", *args],
        cwd=project.root,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            experiments = [e.experiment_id for e in project.client.search_experiments()]
            running = project.client.search_runs(
                experiments,
                f"tags.`{records.TAG_PIPELINE_STEP}` = 'training' and attributes.status = 'RUNNING'",
            )
            if len(running) >= trainings:
                time.sleep(2)  # inside the hanging cell
                break
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "interrupted" in err, err[-2000:]
    return process.returncode
