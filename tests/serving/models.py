"""Registered models for the serving tests: real sklearn versions logged with MLflow (signature, input
example, the training split's statistics as capture stores them), and a version that cannot load."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from mlops_nb import records, store
from mlops_nb.capture.profile import profile

REQUIREMENTS = ["scikit-learn"]  # skips MLflow's slow requirement inference
FEATURES = ["a", "b", "c", "d"]


def training_data(seed: int = 0, n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    target = (frame["a"] + 0.5 * frame["b"] - frame["c"] > 0).astype(int)
    return frame, target


def register(name: str, *, flip: bool = False, alias: str | None = None) -> str:
    """Train and register a LogisticRegression (`flip`: predicting the opposite class); the version."""
    client = store.client()
    frame, target = training_data()
    if flip:
        target = 1 - target
    estimator = LogisticRegression().fit(frame, target)
    with mlflow.start_run(experiment_id=store.experiment_id("serving-tests")) as run:
        client.log_dict(
            run.info.run_id, profile(frame, name="train", context="training"), records.split_artifact("train")
        )
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(frame, estimator.predict(frame)),
            input_example=frame.head(3),
            pip_requirements=REQUIREMENTS,
        )
    version = mlflow.register_model(info.model_uri, name).version
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return str(version)


class Unloadable(mlflow.pyfunc.PythonModel):
    """A model whose loading fails (a missing file, a broken dependency...)."""

    def load_context(self, context: object) -> None:
        raise RuntimeError("the weights file is missing")

    def predict(self, context: object, model_input: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(model_input))


def register_unloadable(name: str) -> str:
    frame, _ = training_data()
    with mlflow.start_run(experiment_id=store.experiment_id("serving-tests")):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Unloadable(),
            signature=infer_signature(frame, np.zeros(len(frame))),
            input_example=frame.head(3),
            pip_requirements=REQUIREMENTS,
        )
    return str(mlflow.register_model(info.model_uri, name).version)


class Scaled(mlflow.pyfunc.PythonModel):
    """A model taking a parameter: column `a` times `scale` (default 1.0 in its params schema)."""

    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        return model_input["a"].to_numpy() * float((params or {}).get("scale", 1.0))


def register_scaled(name: str, alias: str) -> str:
    """Register `Scaled` with a signature that declares the parameter `scale`; the version."""
    frame, _ = training_data()
    with mlflow.start_run(experiment_id=store.experiment_id("serving-tests")):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Scaled(),
            signature=infer_signature(frame, frame["a"].to_numpy(), params={"scale": 1.0}),
            input_example=frame.head(3),
            pip_requirements=REQUIREMENTS,
        )
    version = mlflow.register_model(info.model_uri, name).version
    store.client().set_registered_model_alias(name, alias, version)
    return str(version)
