"""Data splits through the Python API on a real store: contexts from the split names, leakage between
splits of different contexts only, names checked before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_nb
from mlops_nb import records, store
from mlops_nb.exceptions import UsageError


def _contexts(run_id: str) -> dict[str, str]:
    run = store.client().get_run(run_id)
    return {
        tags[records.INPUT_SPLIT]: tags[records.INPUT_CONTEXT]
        for tags in ({t.key: t.value for t in d.tags} for d in run.inputs.dataset_inputs)
    }


@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("train", "training"),
        ("X_train", "training"),
        ("Xtrain", "training"),
        ("trainX", "training"),
        ("TrainData", "training"),
        ("df_val", "validation"),
        ("y_valid", "validation"),
        ("eval", "validation"),
        ("y_test", "testing"),
        ("X_holdout", "testing"),
        ("test2", "testing"),
        ("features", None),
        ("train_test", None),
        ("latest", None),
    ],
)
def test_split_context_from_name(name: str, context: str | None) -> None:
    assert records.split_context(name) == context


def test_features_and_labels_get_their_contexts_and_labels_are_not_leakage(project: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(rng.integers(0, 2, size=200), name="label")  # classes repeat in every split
    tracked = mlops_nb.track(experiment="xy", autolog=False)
    mlops_nb.log_split(X_train=X.iloc[:150], y_train=y.iloc[:150], X_test=X.iloc[150:], y_test=y.iloc[150:])
    assert _contexts(tracked.run_id) == {
        "X_train": "training",
        "y_train": "training",
        "X_test": "testing",
        "y_test": "testing",
    }
    assert mlops_nb.status()["warnings"] == []

    mlops_nb.log_split(X_val=X.iloc[140:160])  # 10 rows of training data, 10 of test data
    warnings = mlops_nb.status()["warnings"]
    assert warnings == ["X_train∩X_val: 10 rows; X_test∩X_val: 10 rows"]
    mlops_nb.stop()
    tags = store.client().get_run(tracked.run_id).data.tags
    assert tags[records.TAG_WARNING_SPLIT_LEAKAGE] == warnings[0]


def test_unique_single_columns_still_count_as_rows(project: Path) -> None:
    texts = pd.Series([f"document {i}" for i in range(50)], name="text")
    mlops_nb.track(experiment="texts", autolog=False)
    mlops_nb.log_split(train=texts.iloc[:40], test=texts.iloc[35:])
    assert mlops_nb.status()["warnings"] == ["train∩test: 5 rows"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("features", "Cannot tell whether split 'features' is training, validation or testing"),
        ("../../escape", "'../../escape' is not a split name"),
        ("", "'' is not a split name"),
        ("a/b_train", "'a/b_train' is not a split name"),
    ],
)
def test_bad_split_names_are_refused_before_anything_is_written(
    project: Path, name: str, message: str
) -> None:
    tracked = mlops_nb.track(experiment="names", autolog=False)
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        mlops_nb.log_split(train=np.arange(3), **{name: np.arange(3)})
    assert store.client().get_run(tracked.run_id).inputs.dataset_inputs == []
    assert mlops_nb.status()["splits"] == {}


def test_a_dataset_shared_by_two_runs_names_neither_run_as_its_source(project: Path) -> None:
    first = mlops_nb.track(experiment="shared", autolog=False)
    mlops_nb.log_split(train=np.arange(10.0))
    mlops_nb.stop()
    second = mlops_nb.track(experiment="shared", autolog=False)
    mlops_nb.log_split(train=np.arange(10.0))  # same name and digest: MLflow reuses the first dataset
    (used,) = store.client().get_run(second.run_id).inputs.dataset_inputs
    assert first.run_id not in used.dataset.source


def test_the_reference_training_split_is_the_inputs_not_the_labels(project: Path) -> None:
    from mlops_nb.pipelines.reference import split_profile

    X = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0) % 7})
    tracked = mlops_nb.track(experiment="xy", autolog=False)
    mlops_nb.log_split(y_train=pd.Series(np.arange(100) % 2, name="label"), X_train=X)  # labels first
    mlops_nb.stop()
    reference = split_profile(tracked.run_id, "train")  # what the data gate compares new data with
    assert reference["name"] == "X_train" and reference["num_columns"] == 2
