"""The requirement-inference cache shared by a sweep's kernels: same answers as MLflow, fewer inferences."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_nb import cli, mlflow_internals, records
from mlops_nb.capture import requirements
from tests.helpers import papermill
from tests.integration.pipeline_project import project_fixture  # noqa: F401 (the fixture)


@pytest.fixture
def data() -> tuple:
    return load_breast_cancer(return_X_y=True)


@pytest.fixture
def counted() -> Iterator[list[str]]:
    """Calls that reached MLflow's own inference (a real subprocess), by flavor."""
    calls: list[str] = []
    original = mlflow_internals.requirement_inference()

    def counting(model_uri, flavor, *args, **kwargs):
        calls.append(flavor)
        return original(model_uri, flavor, *args, **kwargs)

    mlflow_internals.replace_requirement_inference(counting)
    yield calls
    mlflow_internals.replace_requirement_inference(original)


def _requirements(path: Path) -> list[str]:
    return (path / "requirements.txt").read_text().split()


def test_models_of_one_shape_share_an_inference_with_mlflows_answer(tmp_path, data, counted) -> None:
    X, y = data
    plain = tmp_path / "plain"
    mlflow.sklearn.save_model(LogisticRegression(C=1.0, max_iter=50).fit(X, y), plain)
    assert counted == ["sklearn"]

    requirements.install(tmp_path / "cache")
    first, second, forest = tmp_path / "first", tmp_path / "second", tmp_path / "forest"
    mlflow.sklearn.save_model(LogisticRegression(C=0.1, max_iter=50).fit(X, y), first)
    mlflow.sklearn.save_model(LogisticRegression(C=10.0, max_iter=80).fit(X, y), second)  # other weights
    assert counted == ["sklearn", "sklearn"], "the second model of the same shape must hit the cache"
    assert _requirements(first) == _requirements(second) == _requirements(plain)

    mlflow.sklearn.save_model(
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), forest
    )  # another class
    assert counted == ["sklearn", "sklearn", "sklearn"]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2


def test_key_follows_what_loading_can_import(tmp_path, data) -> None:
    X, y = data
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for path, model in (
        (a, LogisticRegression(C=1.0)),
        (b, LogisticRegression(C=2.0)),
        (c, make_pipeline(StandardScaler(), LogisticRegression())),
    ):
        mlflow.sklearn.save_model(model.fit(X, y), path, pip_requirements=["scikit-learn"])
    assert requirements.model_key(a, "sklearn") == requirements.model_key(b, "sklearn")
    assert requirements.model_key(a, "sklearn") != requirements.model_key(c, "sklearn")
    assert requirements.model_key(a, "sklearn") != requirements.model_key(a, "python_function")

    (b / "extra.bin").write_bytes(b"\x00raw weights")  # a file that is not a pickle counts by its content
    key = requirements.model_key(b, "sklearn")
    assert key != requirements.model_key(a, "sklearn")
    (b / "extra.bin").write_bytes(b"\x00other weights")
    assert requirements.model_key(b, "sklearn") != key
    assert requirements.model_key(tmp_path / "missing", "sklearn") is None


@pytest.mark.parametrize("serialization", ["skops", "cloudpickle", "pickle"])
def test_each_sklearn_serialization_has_a_shape(tmp_path, data, serialization) -> None:
    X, y = data
    keys = set()
    for c in (0.5, 5.0):
        path = tmp_path / str(c)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=30)).fit(X, y)
        mlflow.sklearn.save_model(model, path, serialization_format=serialization, pip_requirements=["x"])
        keys.add(requirements.model_key(path, "sklearn"))
    assert len(keys) == 1 and None not in keys


def test_pickle_shape_sees_modules_and_names_not_numbers() -> None:
    small = pickle.dumps({"model": Path("x"), "weights": [1.0, 2.0]})
    other = pickle.dumps({"model": Path("y"), "weights": [3.0, 4.5]})
    shape = requirements.pickle_shape(small)
    assert shape is not None and "pathlib" in shape and "weights" in shape
    assert requirements.pickle_shape(other) != shape  # "x" vs "y": strings can name modules, so they count
    assert requirements.pickle_shape(pickle.dumps({"weights": [9.0]})) == requirements.pickle_shape(
        pickle.dumps({"weights": [1.5]})
    )
    assert requirements.pickle_shape(small + b"trailing array bytes") is None
    assert requirements.pickle_shape(b"not a pickle") is None


def test_pipeline_kernels_share_an_inference_equal_to_mlflows_own(project, tmp_path, monkeypatch) -> None:
    notebook = nbformat.read(project.notebook, as_version=4)
    for cell in notebook.cells:  # let MLflow infer the requirements
        cell.source = cell.source.replace(', pip_requirements=["scikit-learn"]', "")
    nbformat.write(notebook, project.notebook)
    parquet = tmp_path / "data.parquet"
    pd.read_csv(project.data).to_parquet(parquet)
    papermill(project.notebook, tmp_path / "plain.ipynb", params={"data_path": parquet, "max_iter": 50})

    cache = tmp_path / "cache"
    monkeypatch.setenv(records.ENV_REQUIREMENTS_CACHE, str(cache))  # as a sweep hands it to its points
    for c in ("0.5", "2.0"):
        assert cli.main(["run", str(project.pipeline), "-p", f"C={c}", "--no-progress"]) == 0
    assert len(list(cache.glob("*.json"))) == 1, "the second run's model has the first one's shape"

    experiments = [e.experiment_id for e in project.client.search_experiments()]
    models = mlflow.search_logged_models(experiment_ids=experiments, output_format="list")
    found = {Path(mlflow.pyfunc.get_model_dependencies(m.model_uri)).read_text() for m in models}
    assert len(models) == 3 and len(found) == 1, found  # the pipelines' answers are the plain run's
    assert "scikit-learn==" in found.pop()
