"""An experiment seeded as real runs write it, for the compare widget's tests and benchmark.

Interactive runs of train_classifier.ipynb carry what mlflow.sklearn.autolog wrote for a
make_pipeline(StandardScaler(), SGDClassifier(...)) (estimator reprs, ``sgdclassifier__*``, ``training_*``,
``accuracy_score_X_test``), the notebook's own metrics (15 epochs of curves, then single test scores) and the
record tags of capture; pipeline runs carry the pipeline's holdout scores, slices on their evaluation step and
six step runs each. Params: log-spaced ``alpha``, categorical ``penalty``, ``epochs``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag

from mlops_nb import config, records, store

EXPERIMENT = "train_classifier"
HOSTILE = "<img src=x onerror=alert(1)>"
EPOCHS = 15
AUTOLOG_METRICS = (
    "accuracy_score_X_test", "f1_score_X_test", "training_accuracy_score", "training_f1_score",
    "training_log_loss", "training_precision_score", "training_recall_score", "training_roc_auc",
    "training_score",
)  # fmt: skip
SGD_DEFAULTS = {
    "average": "False", "class_weight": "None", "early_stopping": "False", "epsilon": "0.1", "eta0": "0.01",
    "fit_intercept": "True", "l1_ratio": "0.15", "learning_rate": "optimal", "loss": "log_loss",
    "n_iter_no_change": "5", "n_jobs": "None", "power_t": "0.5", "random_state": "42", "shuffle": "True",
    "tol": "None", "validation_fraction": "0.1", "verbose": "0", "warm_start": "False",
}  # fmt: skip
SLICES = ("_6.98_ 11.7_", "_11.7_ 13.4_", "_13.4_ 15.8_", "_15.8_ 28.1_")


def _autolog_params(alpha: float, epochs: int, penalty: str) -> dict[str, str]:
    sgd = f"SGDClassifier(alpha={alpha}, max_iter={epochs}, penalty='{penalty}', random_state=42, tol=None)"
    params = {f"sgdclassifier__{k}": v for k, v in SGD_DEFAULTS.items()}
    params.update(
        {
            "sgdclassifier__alpha": str(alpha),
            "sgdclassifier__max_iter": str(epochs),
            "sgdclassifier__penalty": penalty,
            "sgdclassifier": sgd,
            "standardscaler": "StandardScaler()",
            "standardscaler__copy": "True",
            "standardscaler__with_mean": "True",
            "standardscaler__with_std": "True",
            "steps": f"[('standardscaler', StandardScaler()), ('sgdclassifier', {sgd})]",
            "memory": "None",
            "transform_input": "None",
            "verbose": "False",
        }
    )
    return params


def _write(client, run_id: str, params: dict, metrics: list[Metric], tags: dict) -> None:
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.set_terminated(run_id, "FINISHED")


def _interactive(client, experiment_id: str, index: int, *, name: str | None, start: int) -> str:
    alpha, penalty, epochs = 10.0 ** -(4 - index % 4), ("l1", "l2")[index % 2], 10 + 5 * (index % 2)
    user = {"alpha": str(alpha), "epochs": str(epochs), "penalty": penalty, "seed": "42", "test_size": "0.25"}
    user |= {"data_path": "None", "target": "target"}
    run_name = name or f"train_classifier alpha={alpha} epochs={epochs}"
    run = client.create_run(experiment_id, start_time=start, run_name=run_name)
    now = int(time.time() * 1000)
    score = 0.9 + 0.01 * index
    metrics = [
        Metric(key, value, now + step, step)
        for step in range(EPOCHS)
        for key, value in (
            ("train_loss", 0.6 / (step + 1) + alpha),
            ("val_loss", 0.65 / (step + 1) + alpha),
            ("val_accuracy", score - 0.1 / (step + 1)),
        )
    ]
    metrics += [Metric(k, score - 0.001 * i, now + EPOCHS, 0) for i, k in enumerate(AUTOLOG_METRICS)]
    notebook = ["train_loss", "val_loss", "val_accuracy", "test_accuracy", "test_f1", "test_roc_auc"]
    metrics += [Metric(k, score + 0.002 * i, now + EPOCHS + 1, 0) for i, k in enumerate(notebook[3:])]
    tags = {
        records.TAG_MODE: records.MODE_INTERACTIVE,
        records.TAG_PARAMS_USER: json.dumps(sorted(user)),
        records.TAG_METRICS_NOTEBOOK: json.dumps(notebook),
        "estimator_class": "sklearn.pipeline.Pipeline",
        "estimator_name": "Pipeline",
    }
    if index == 1:
        tags[records.TAG_WARNING_SPLIT_LEAKAGE] = "12 rows of test are in train"
    _write(
        client,
        run.info.run_id,
        {**_autolog_params(alpha, epochs, penalty), **user},
        metrics,
        tags,
    )
    return run.info.run_id


def _pipeline(client, experiment_id: str, alpha: float, epochs: int, start: int) -> str:
    values = {"alpha": str(alpha), "epochs": str(epochs), "penalty": "l2", "seed": "42", "test_size": "0.25"}
    values["target"] = "target"
    name = f"train_classifier alpha={alpha} epochs={epochs}"
    parent = client.create_run(experiment_id, start_time=start, run_name=name)
    now = int(time.time() * 1000)
    scores = {"test_accuracy": 0.95 + alpha, "test_f1_macro": 0.94, "test_roc_auc": 0.99}
    tags = {
        records.TAG_MODE: records.MODE_PIPELINE,
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE,
        records.TAG_PIPELINE_METRIC: "test_accuracy",
        records.TAG_PARAMS_USER: json.dumps(sorted(values)),
    }
    parent_metrics = [Metric(k, v, now, 0) for k, v in scores.items()]
    _write(client, parent.info.run_id, values, parent_metrics, tags)
    for step in (
        "ingestion",
        "data_validation",
        "training",
        "evaluation",
        "model_validation",
        "registration",
    ):
        child = client.create_run(experiment_id, start_time=start + 1, run_name=f"train_classifier · {step}")
        step_tags = {
            records.PARENT_RUN_ID: parent.info.run_id,
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
            records.TAG_PIPELINE_STEP: step,
            records.TAG_MODE: records.MODE_PIPELINE,
        }
        step_metrics = []
        if step == "evaluation":
            step_metrics = [
                Metric(f"{k}.mean radius.{s}", v - 0.01 * i, now, 0)
                for k, v in scores.items()
                for i, s in enumerate(SLICES)
            ]
        _write(client, child.info.run_id, {}, step_metrics, step_tags)
    return parent.info.run_id


def seed(root: Path, interactive: int = 4, pipelines: int = 2) -> list[str]:
    """Seed experiment EXPERIMENT in the project at `root` (oldest first: interactive, then pipeline runs);
    returns the run ids of the comparable runs, newest first."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlops.toml").write_text(f'experiment = "{EXPERIMENT}"\n', encoding="utf-8")
    settings = store.ensure_store(config.load(root))
    client = store.client(settings)
    experiment_id = store.experiment_id(EXPERIMENT, settings)
    ids = []
    start = int(time.time() * 1000) - 10_000 * (interactive + pipelines)  # one order for "the last N"
    for i in range(interactive):
        name = HOSTILE if i == 2 else None
        ids.append(_interactive(client, experiment_id, i, name=name, start=start + 10_000 * i))
    for i in range(pipelines):
        ids.append(
            _pipeline(client, experiment_id, 10.0 ** -(3 + i), 10 + 5 * i, start + 10_000 * (interactive + i))
        )
    return ids[::-1]
