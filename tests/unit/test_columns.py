"""explore/columns.py on the names a real sklearn Pipeline under mlflow.sklearn.autolog and a pipeline run write."""

from __future__ import annotations

import json

from mlops_nb import records
from mlops_nb.explore import columns

# What mlflow.sklearn.autolog (MLflow 3.17) logged for make_pipeline(StandardScaler(), SGDClassifier(...)).fit()
# followed by accuracy_score / f1_score on X_test, in a run whose notebook's parameters cell had alpha and epochs.
AUTOLOG_PARAMS = {
    "memory": "None",
    "sgdclassifier": "SGDClassifier(alpha=0.001, loss='log_loss', max_iter=5, tol=None)",
    "sgdclassifier__alpha": "0.001",
    "sgdclassifier__max_iter": "5",
    "sgdclassifier__penalty": "l2",
    "standardscaler": "StandardScaler()",
    "standardscaler__with_mean": "True",
    "steps": "[('standardscaler', StandardScaler()), ('sgdclassifier', SGDClassifier(alpha=0.001))]",
    "transform_input": "None",
    "verbose": "False",
}
USER_PARAMS = {"alpha": "0.001", "epochs": "5", "seed": "42", "test_size": "0.25", "model": "sgd"}
AUTOLOG_METRICS = [
    "accuracy_score_X_test",
    "f1_score_X_test",
    "training_accuracy_score",
    "training_log_loss",
    "training_roc_auc",
    "training_score",
]
NOTEBOOK_METRICS = ["train_loss", "val_loss", "val_accuracy", "test_accuracy", "test_f1", "test_roc_auc"]
SLICES = ["test_accuracy.mean radius._11.765_ 13.6_", "test_f1_macro.mean radius._6.98_ 11.765_"]
AUTOLOG_TAGS = {"estimator_class": "sklearn.pipeline.Pipeline", "estimator_name": "Pipeline"}


def _recorded(**extra: str) -> dict[str, str]:
    return {
        **AUTOLOG_TAGS,
        records.TAG_PARAMS_USER: json.dumps(sorted(USER_PARAMS)),
        records.TAG_METRICS_NOTEBOOK: json.dumps(NOTEBOOK_METRICS),
        **extra,
    }


def test_params_recorded_run_user_vs_autolog() -> None:
    kinds = columns.classify_params({**AUTOLOG_PARAMS, **USER_PARAMS}, _recorded())
    assert {k for k, v in kinds.items() if v == "user"} == set(USER_PARAMS)
    assert {k for k, v in kinds.items() if v == "autolog"} == set(AUTOLOG_PARAMS)


def test_params_unrecorded_run_by_name_and_value() -> None:
    kinds = columns.classify_params({**AUTOLOG_PARAMS, **USER_PARAMS}, AUTOLOG_TAGS)
    assert {k for k, v in kinds.items() if v == "user"} == set(USER_PARAMS)
    assert kinds["sgdclassifier"] == kinds["steps"] == kinds["memory"] == "autolog"
    # without autologging, a plain param called `verbose` is the user's
    assert columns.classify_params({"verbose": "1"}, {}) == {"verbose": "user"}


def test_metrics_training_step() -> None:
    tags = _recorded(**{records.TAG_PIPELINE_METRIC: "test_accuracy", records.TAG_PIPELINE_STEP: "training"})
    kinds = columns.classify_metrics([*AUTOLOG_METRICS, *NOTEBOOK_METRICS], tags)
    assert kinds["test_accuracy"] == "pipeline"
    assert {k for k, v in kinds.items() if v == "notebook"} == set(NOTEBOOK_METRICS) - {"test_accuracy"}
    assert {k for k, v in kinds.items() if v == "autolog"} == set(AUTOLOG_METRICS)


def test_metrics_pipeline_parent_and_evaluation_step() -> None:
    parent = {
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE,
        records.TAG_PIPELINE_METRIC: "test_accuracy",
    }
    kinds = columns.classify_metrics(["test_accuracy", "test_f1_macro", "test_roc_auc"], parent)
    assert kinds == {"test_accuracy": "pipeline", "test_f1_macro": "evaluation", "test_roc_auc": "evaluation"}
    step = {records.TAG_PIPELINE_KIND: "step", records.TAG_PIPELINE_STEP: "evaluation"}
    assert columns.classify_metrics([*SLICES, "test_accuracy"], step) == {
        **dict.fromkeys(SLICES, "slice"),
        "test_accuracy": "evaluation",
    }
    ingestion = {records.TAG_PIPELINE_KIND: "step", records.TAG_PIPELINE_STEP: "ingestion"}
    assert set(columns.classify_metrics(["rows", "rows_read", "files"], ingestion).values()) == {"internal"}


def test_metrics_unrecorded_interactive_run() -> None:
    kinds = columns.classify_metrics([*AUTOLOG_METRICS, *NOTEBOOK_METRICS, *SLICES], AUTOLOG_TAGS)
    assert {k for k, v in kinds.items() if v == "notebook"} == set(NOTEBOOK_METRICS)
    assert {k for k, v in kinds.items() if v == "autolog"} == set(AUTOLOG_METRICS)
    assert {k for k, v in kinds.items() if v == "slice"} == set(SLICES)


def test_merge_defaults_and_default_metric() -> None:
    parent = {records.TAG_PIPELINE_KIND: "pipeline", records.TAG_PIPELINE_METRIC: "test_accuracy"}
    merged = columns.merge(
        [
            columns.classify_metrics(["test_accuracy", "test_f1_macro"], parent),
            columns.classify_metrics([*AUTOLOG_METRICS, *NOTEBOOK_METRICS], _recorded()),
        ]
    )
    assert merged["test_accuracy"] == "pipeline"
    assert columns.default_metric(merged) == "test_accuracy"  # not accuracy_score_X_test, first by name
    params = columns.classify_params({**AUTOLOG_PARAMS, **USER_PARAMS}, _recorded())
    defaults = columns.default_columns(params, merged)
    assert defaults["params"] == sorted(USER_PARAMS)
    assert defaults["metrics"][0] == "test_accuracy"
    assert "accuracy_score_X_test" not in defaults["metrics"] and "test_f1_macro" not in defaults["metrics"]


def test_default_metric_is_the_notebooks_latest() -> None:
    newest = {records.TAG_METRICS_NOTEBOOK: json.dumps(["loss", "acc"])}
    older = {records.TAG_METRICS_NOTEBOOK: json.dumps(["acc", "loss"])}
    kinds = columns.merge(
        columns.classify_metrics(["acc", "loss", "training_score"], t) for t in (newest, older)
    )
    assert columns.default_metric(kinds, [newest, older]) == "acc"
    assert columns.default_metric(columns.classify_metrics(["training_score", "zeta"], {})) == "zeta"
    assert columns.default_metric({}) is None


def test_log_scale() -> None:
    assert columns.log_scale(["0.0001", "0.001", "0.01"])
    assert columns.log_scale([1e-4, 1e-3, None])
    assert not columns.log_scale([5, 15])  # epochs
    assert not columns.log_scale([0.0, 0.1, 1.0])  # zero has no logarithm
    assert not columns.log_scale(["l1", "l2"])
    assert not columns.log_scale([0.001])


def test_differing() -> None:
    rows = [
        {"params": {"alpha": "0.1", "seed": "1"}},
        {"params": {"alpha": "0.2", "seed": "1"}},
        {"params": {"seed": "1", "extra": "x"}},
    ]
    assert columns.differing(rows, ["alpha", "seed", "extra"]) == ["alpha", "extra"]


def test_data_path_is_internal_on_pipeline_runs() -> None:
    params = {"data_path": "/tmp/pipeline-x/data/train.parquet", "C": "0.5"}
    tags = {records.TAG_MODE: records.MODE_PIPELINE, records.TAG_PARAMS_USER: json.dumps(["C", "data_path"])}
    assert columns.classify_params(params, tags) == {"data_path": "internal", "C": "user"}
    assert columns.classify_params({"data_path": "None"}, {})["data_path"] == "user"  # interactive
