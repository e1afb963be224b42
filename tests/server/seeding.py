"""A small project store seeded the way capture writes runs (records.py names), for explore and server tests.

Experiment "demo": a pipeline run with one training step (registered as model "demo-model" v1), three
interactive runs (one out of order, one with a dirty git tree, one with an HTML run name), one still running.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

from mlops_nb import config, records, store

COMMIT = "0123456789abcdef0123456789abcdef01234567"
XSS_NAME = "<img src=x onerror=alert(1)>"


@dataclass
class Seeded:
    """What the seeded store holds, for assertions."""

    settings: config.Settings
    experiment_id: str
    pipeline_run: str = ""
    step_run: str = ""
    interactive: list[str] = field(default_factory=list)
    running_run: str = ""
    model: str = "demo-model"


def _split(name: str, rows: int, digest: str) -> dict:
    return {
        "name": name,
        "context": records.SPLIT_CONTEXTS.get(name),
        "digest": digest,
        "type": "pandas.DataFrame",
        "num_rows": rows,
        "num_columns": 2,
        "seed": 7,
        "schema": [
            {"name": "age", "dtype": "float64", "kind": "numeric"},
            {"name": "city", "dtype": "str", "kind": "categorical"},
        ],
        "columns": {
            "age": {
                "kind": "numeric",
                "count": rows,
                "missing": 0,
                "missing_rate": 0.0,
                "mean": 40.0,
                "std": float("nan"),
                "min": 18.0,
                "max": 90.0,
                "quantiles": {"0.5": 39.0},
                "percentiles": [18.0 + i * 0.72 for i in range(101)],
                "histogram": {"edges": [18.0 + i * 3.6 for i in range(21)], "counts": [rows // 20] * 20},
            },
            "city": {
                "kind": "categorical",
                "count": rows,
                "missing": 0,
                "missing_rate": 0.0,
                "cardinality": 2,
                "top": [{"value": "Oslo", "count": rows, "frequency": 1.0}],
                "other_frequency": 0.0,
            },
        },
    }


def _notebook() -> str:
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [], "source": "x = 1"}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _tracked_run(
    client, seeded: Seeded, name: str, *, lr: float, mode: str, extra_tags: dict[str, str]
) -> str:
    tmp = seeded.settings.state_dir / "seed"
    run = client.create_run(seeded.experiment_id, run_name=name)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    tags = {
        records.TAG_MODE: mode,
        records.SOURCE_GIT_COMMIT: COMMIT,
        records.SOURCE_GIT_BRANCH: "main",
        records.TAG_GIT_DIRTY: "false",
        records.TAG_NOTEBOOK_PATH: "notebooks/train.ipynb",
        records.TAG_NOTEBOOK_HASH: "ab" * 32,
        records.TAG_NOTEBOOK_SNAPSHOT: f"{records.ARTIFACT_CODE_DIR}/train.ipynb",
        records.TAG_EXECUTION_ORDER: records.EXECUTION_IN_ORDER,
        **extra_tags,
    }
    params = {"lr": str(lr), "depth": "3", "seed": "7"}
    metrics = [
        Metric(key, value, now + step, step)
        for step in range(5)
        for key, value in (("accuracy", 0.5 + lr * step), ("loss", 1.0 - lr * step))
    ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    inputs = []
    for split, rows, digest in (
        ("train", 80, f"{lr:.2f}".replace(".", "") + "a" * 29),
        ("test", 20, "b" * 32),
    ):
        folder = tmp / run_id / records.ARTIFACT_SPLITS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.json").write_text(json.dumps(_split(split, rows, digest)), encoding="utf-8")
        dataset = Dataset(split, digest, "code", json.dumps({"tags": {}}))
        tags_in = [
            InputTag(records.INPUT_CONTEXT, records.SPLIT_CONTEXTS[split]),
            InputTag(records.INPUT_SPLIT, split),
        ]
        inputs.append(DatasetInput(dataset, tags_in))
    client.log_inputs(run_id, datasets=inputs)
    client.log_artifacts(run_id, str(tmp / run_id / records.ARTIFACT_SPLITS_DIR), records.ARTIFACT_SPLITS_DIR)
    code = tmp / run_id / records.ARTIFACT_CODE_DIR
    code.mkdir(parents=True, exist_ok=True)
    (code / "train.ipynb").write_text(_notebook(), encoding="utf-8")
    (code / "git.diff").write_text("", encoding="utf-8")
    client.log_artifacts(run_id, str(code), records.ARTIFACT_CODE_DIR)
    return run_id


def seed_project(root: Path) -> Seeded:
    """Create the project at `root` (``.mlops/`` store) and fill experiment "demo"."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlops.toml").write_text('experiment = "demo"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:  # the project's own store, whatever the process says
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv(records.ENV_PROJECT, raising=False)
        settings = config.load(root)
    seeded = Seeded(settings=settings, experiment_id=store.experiment_id("demo", settings))
    client = store.client(settings)
    parent = client.create_run(
        seeded.experiment_id, run_name="pipeline-1", tags={records.TAG_MODE: "pipeline"}
    )
    seeded.pipeline_run = parent.info.run_id
    seeded.step_run = _tracked_run(
        client,
        seeded,
        "train",
        lr=0.1,
        mode=records.MODE_PIPELINE,
        extra_tags={
            records.TAG_PIPELINE_RUN: seeded.pipeline_run,
            records.PARENT_RUN_ID: seeded.pipeline_run,
        },
    )
    client.set_terminated(seeded.step_run)
    client.set_terminated(seeded.pipeline_run)
    client.create_registered_model(seeded.model)
    client.create_model_version(seeded.model, f"runs:/{seeded.step_run}/model", run_id=seeded.step_run)
    client.set_registered_model_alias(seeded.model, "champion", "1")
    variants = [
        ("explore-a", 0.05, {records.TAG_EXECUTION_ORDER: records.EXECUTION_OUT_OF_ORDER}),
        ("explore-b", 0.02, {records.TAG_GIT_DIRTY: "true"}),
        (XSS_NAME, 0.08, {records.TAG_WARNING_SPLIT_LEAKAGE: "3 rows of test are also in train"}),
    ]
    for name, lr, tags in variants:
        run_id = _tracked_run(client, seeded, name, lr=lr, mode=records.MODE_INTERACTIVE, extra_tags=tags)
        client.set_terminated(run_id)
        seeded.interactive.append(run_id)
    seeded.running_run = client.create_run(seeded.experiment_id, run_name="still-running").info.run_id
    client.log_metric(seeded.running_run, "accuracy", 0.3, step=0)
    return seeded
