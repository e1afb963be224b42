"""Evaluation: score a logged model on the held-out test split, overall and per slice of one column.

Slices are the column's values, or its quartile bins when it is numeric with more than 10 values.

Metric names: ``test_<metric>`` overall and ``test_<metric>.<column>.<value>`` per slice (MLflow
metric-name characters only). Classification: accuracy, f1_macro, precision_macro, recall_macro,
and roc_auc for binary targets when the model has ``predict_proba``. Regression: rmse, mae, r2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_nb.exceptions import NotFoundError, UsageError


@dataclass
class Evaluation:
    """Metrics of one model on one test split."""

    overall: dict[str, float]
    slices: dict[str, dict[str, float]] = field(default_factory=dict)  # slice value -> metrics
    slice_column: str | None = None
    rows: int = 0
    digest: str = ""  # full-content fingerprint of the test split scored (capture/data.py)

    def metrics(self) -> dict[str, float]:
        """Everything as flat MLflow metrics."""
        flat = {f"test_{k}": v for k, v in self.overall.items()}
        for value, metrics in self.slices.items():
            for k, v in metrics.items():
                flat[f"test_{k}.{self.slice_column}.{_clean(value)}"] = v
        return flat

    def to_dict(self) -> dict[str, Any]:
        """The report written as the evaluation artifact."""
        return {
            "rows": self.rows,
            "overall": self.overall,
            "slice_column": self.slice_column,
            "slices": self.slices,
            "digest": self.digest,
        }


# What evaluation computes per task (logged as ``test_<name>``; roc_auc only for binary classifiers).
METRICS = {
    "classification": ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}


def _clean(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(value))[:60] or "_"


def model_uri_of_run(client: Any, run_id: str, experiment_id: str) -> tuple[str, str]:
    """The id and artifact location of the model that run `run_id` logged (its newest logged model).

    Loading from the artifact location needs no global tracking URI, so any store works."""
    models = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=10
    )
    if not models:
        raise NotFoundError(
            "The notebook logged no model in its training run.",
            hint="Log one with mlflow.sklearn.log_model(...) (or autolog) after `%mlops track`.",
        )
    newest = max(models, key=lambda m: m.creation_timestamp or 0)
    return newest.model_id, newest.artifact_location


def _scores(task: str, y_true: Any, y_pred: Any, proba: Any) -> dict[str, float]:
    from sklearn import metrics

    if task == "regression":
        return {
            "rmse": float(metrics.mean_squared_error(y_true, y_pred) ** 0.5),
            "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
            "r2": float(metrics.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        }
    result = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "precision_macro": float(metrics.precision_score(y_true, y_pred, average="macro", zero_division=0)),
        "recall_macro": float(metrics.recall_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    if proba is not None and proba.shape[1] == 2 and len(set(y_true)) == 2:
        result["roc_auc"] = float(metrics.roc_auc_score(y_true, proba[:, 1]))
    return result


def _feature_names(model: Any, model_uri: str) -> list[str] | None:
    """The model's input columns: scikit-learn's ``feature_names_in_``, else its signature's inputs."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    import mlflow

    signature = getattr(getattr(model, "metadata", None), "signature", None)
    if signature is None:
        signature = mlflow.models.Model.load(model_uri).signature
    inputs = signature.inputs.input_names() if signature is not None and signature.inputs else None
    return [str(n) for n in inputs] if inputs and all(isinstance(n, str) for n in inputs) else None


def _slices(column: Any) -> dict[str, Any]:
    """Row positions per slice: each value, or 4 quantile bins for a numeric column of many values."""
    import pandas as pd

    if (
        pd.api.types.is_numeric_dtype(column)
        and not pd.api.types.is_bool_dtype(column)
        and column.nunique() > 10
    ):
        column = pd.qcut(column, 4, duplicates="drop").astype(str)
    return {str(k): v for k, v in column.groupby(column, dropna=False, observed=True).indices.items()}


def evaluate(
    model_uri: str, test_path: Path, *, target: str, task: str, slice_column: str | None
) -> Evaluation:
    """Load the model and the test split; compute the metrics overall and per slice."""
    import mlflow
    import pandas as pd

    test = pd.read_parquet(test_path)
    if slice_column and slice_column not in test.columns:
        raise UsageError(
            f"Slice column {slice_column!r} (evaluation.slice_column) is not in the test data.",
            hint=f"Columns: {', '.join(map(str, test.columns))}.",
        )
    y_true = test[target].to_numpy()
    try:
        model = mlflow.sklearn.load_model(model_uri)
    except Exception:  # not a scikit-learn model: the generic flavour
        model = mlflow.pyfunc.load_model(model_uri)
    features = test[_feature_names(model, model_uri) or [c for c in test.columns if c != target]]
    try:
        y_pred = model.predict(features)
    except Exception as exc:
        raise UsageError(
            f"The logged model could not predict on the test split: {exc}.",
            hint="Fit the model on a DataFrame of the data's columns (its feature_names_in_ select them).",
        ) from exc
    y_pred = pd.Series(y_pred).to_numpy().ravel()
    proba = (
        model.predict_proba(features)
        if task == "classification" and hasattr(model, "predict_proba")
        else None
    )
    from mlops_nb.capture.data import fingerprint

    result = Evaluation(
        _scores(task, y_true, y_pred, proba),
        slice_column=slice_column,
        rows=len(test),
        digest=fingerprint(test),
    )
    if slice_column:
        for value, index in _slices(test[slice_column]).items():
            part_proba = proba[index] if proba is not None else None
            result.slices[str(value)] = _scores(task, y_true[index], y_pred[index], part_proba)
    return result
