"""Registered model versions as the servers use them: resolve ``models:/NAME@ALIAS`` to a version, load it
(MLflow's pyfunc plus a numpy fast path when the model allows one), and expose its input signature, input
example and the reference statistics of its training split."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlops_nb import store
from mlops_nb.exceptions import MlopsError, NotFoundError, StoreError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)
NUMERIC_TYPES = frozenset({"double", "float", "long", "integer"})


class ModelLoadError(MlopsError):
    """A model version could not be loaded or did not predict on its own input example."""

    status = 500


@dataclass(frozen=True)
class InputColumn:
    """One column of a version's input signature."""

    name: str
    type: str  # MLflow's type name: double, float, long, integer, boolean, string, ...
    required: bool = True


@dataclass
class LoadedVersion:
    """A loaded model version: predict with `predict_frame` (any input) or `predict_matrix` (fast path)."""

    name: str
    version: str
    run_id: str | None
    columns: list[InputColumn]
    example: pd.DataFrame | None
    reference: dict[str, Any] | None
    pyfunc: Any
    fast: Any = None  # an estimator taking a float64 matrix in signature order; None: no fast path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @cached_property
    def logged_matrix(self) -> tuple[str, ...] | None:
        """The inference log's input column names when every input is a float, so that the log takes a
        request's float matrix whole; None otherwise."""
        if not self.columns or any(column.type not in ("double", "float") for column in self.columns):
            return None
        return tuple(f"in.{column.name}" for column in self.columns)

    def predict_frame(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """MLflow's own prediction, with its schema enforcement (of `params` too: a params schema's
        defaults fill what is not given, unknown names are dropped with a warning)."""
        return self.pyfunc.predict(frame, params=params) if params else self.pyfunc.predict(frame)

    def predict_matrix(self, matrix: Any) -> Any:
        """The estimator's prediction on a float64 matrix whose columns follow the signature."""
        return self.fast.predict(matrix)

    def warm(self) -> None:
        """Predict on the input example through both paths; a ModelLoadError when either fails."""
        if self.example is None:
            return
        try:
            self.predict_frame(self.example)
            if self.fast is not None:
                self.predict_matrix(self.example[self.column_names].to_numpy(dtype="float64"))
        except Exception as exc:
            raise ModelLoadError(
                f"{self.name} version {self.version} failed on its own input example: {exc}",
                hint="Fix the model or move the alias back to a working version.",
            ) from exc


def resolve(name: str, alias: str, *, client: MlflowClient | None = None) -> str:
    """The version number `alias` of registered model `name` points at (NotFoundError when none)."""
    return str(version_by_alias(name, alias, client=client).version)


def version_by_alias(name: str, alias: str, *, client: MlflowClient | None = None) -> ModelVersion:
    """The model version `name@alias` points at now: NotFoundError when there is none, StoreError when the
    registry cannot be read."""
    from mlflow.exceptions import MlflowException

    client = client or store.client()
    try:
        return store.retrying(lambda: client.get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise NotFoundError(
                f"models:/{name}@{alias} does not exist.",
                hint=f"Give the alias with `mlops-nb promote {name} --version VERSION --to {alias}`, or pick another.",
            ) from None
        raise StoreError(f"models:/{name}@{alias} could not be read: {exc}") from exc


def reference_statistics(run_id: str | None, *, client: MlflowClient | None = None) -> dict[str, Any] | None:
    """The per-column statistics of the training split of run `run_id` (capture's `splits/train.json`
    format), or None when the run recorded none."""
    if not run_id:
        return None
    from mlops_nb.pipelines.reference import split_profile

    with contextlib.suppress(NotFoundError, StoreError):
        return split_profile(run_id, "train", client=client)
    return None


def load(name: str, version: str, *, client: MlflowClient | None = None) -> LoadedVersion:
    """Load version `version` of `name` with its signature, input example and reference statistics; a
    ModelLoadError when MLflow cannot load it or it fails on its input example."""
    import mlflow
    from mlflow.models import Model

    client = client or store.client()
    try:
        details = store.retrying(lambda: client.get_model_version(name, version))
    except Exception as exc:
        raise NotFoundError(f"{name} version {version} could not be read: {exc}") from exc
    try:
        with tempfile.TemporaryDirectory(prefix="mlops_nb-serve-") as folder:
            source = client.get_model_version_download_uri(name, version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=folder, tracking_uri=store.ensure_store().tracking_uri
            )
            meta = Model.load(local)
            example = _example(meta, local)
            pyfunc = mlflow.pyfunc.load_model(local)
            estimator = _estimator(meta, local)
    except Exception as exc:
        raise ModelLoadError(
            f"{name} version {version} could not be loaded: {type(exc).__name__}: {exc}",
            hint="Check that it was logged with an MLflow flavour installed here.",
        ) from exc
    loaded = LoadedVersion(
        name=name,
        version=str(version),
        run_id=details.run_id,
        columns=_columns(meta),
        example=example,
        reference=reference_statistics(details.run_id, client=client),
        pyfunc=pyfunc,
        meta={"flavors": sorted(meta.flavors)},
    )
    loaded.fast = _fast_path(loaded, estimator)
    loaded.warm()
    return loaded


def _columns(meta: Any) -> list[InputColumn]:
    signature = meta.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return []
    return [
        InputColumn(str(spec.name), str(getattr(spec.type, "name", spec.type)), bool(spec.required))
        for spec in signature.inputs.inputs
    ]


def _example(meta: Any, local: str) -> pd.DataFrame | None:
    import pandas as pd

    with contextlib.suppress(Exception):
        example = meta.load_input_example(local)
        if example is not None:
            return example if isinstance(example, pd.DataFrame) else pd.DataFrame(example)
    return None


def _estimator(meta: Any, local: str) -> Any:
    """The scikit-learn estimator behind a sklearn-flavoured model (None for other flavours)."""
    if "sklearn" not in meta.flavors:
        return None
    import mlflow.sklearn

    with contextlib.suppress(Exception):
        return mlflow.sklearn.load_model(local)
    return None


def _fast_path(loaded: LoadedVersion, estimator: Any) -> Any:
    """The estimator when every input is numeric and it predicts on a plain matrix exactly what pyfunc
    predicts on the example; None otherwise (the server then builds DataFrames)."""
    import numpy as np

    if estimator is None or loaded.example is None or not loaded.columns:
        return None
    if any(column.type not in NUMERIC_TYPES for column in loaded.columns):
        return None
    candidate = _Linear.of(estimator) or estimator
    try:
        matrix = loaded.example[loaded.column_names].to_numpy(dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = np.asarray(candidate.predict(matrix))
        slow = np.asarray(loaded.predict_frame(loaded.example))
        if fast.shape == slow.shape and np.array_equal(fast, slow):
            return candidate
    except Exception as exc:  # the estimator needs its DataFrame (named columns, transformers)
        log.debug("no fast path for %s v%s: %s", loaded.name, loaded.version, exc)
    return None


class _Linear:
    """scikit-learn's own prediction rule of a linear model (X @ coef.T + intercept, then the class of the
    largest score), without its per-call input validation, which costs most of a one-row prediction. Used
    only for classes that inherit sklearn's rule unchanged."""

    def __init__(self, coef: Any, intercept: Any, classes: Any = None) -> None:
        self.coef = coef.T
        self.intercept = intercept
        self.classes = classes

    @classmethod
    def of(cls, estimator: Any) -> _Linear | None:
        from sklearn.linear_model._base import LinearClassifierMixin, LinearModel

        kind = type(estimator)
        if not hasattr(estimator, "coef_") or getattr(estimator, "n_features_in_", None) is None:
            return None
        if (
            isinstance(estimator, LinearClassifierMixin)
            and kind.predict is LinearClassifierMixin.predict
            and kind.decision_function is LinearClassifierMixin.decision_function
            and hasattr(estimator, "classes_")
        ):
            return cls(estimator.coef_, estimator.intercept_, estimator.classes_)
        if (
            isinstance(estimator, LinearModel)
            and kind.predict is LinearModel.predict
            and kind._decision_function is LinearModel._decision_function
        ):
            return cls(estimator.coef_, estimator.intercept_)
        return None

    def predict(self, matrix: Any) -> Any:
        scores = matrix @ self.coef + self.intercept
        if self.classes is None:
            return scores
        if scores.ndim == 1 or scores.shape[1] == 1:
            return self.classes[(scores.ravel() > 0).astype(int)]
        return self.classes[scores.argmax(axis=1)]
