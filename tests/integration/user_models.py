"""A small project of a new user's own: a classifier with string labels and string categories (a
ColumnTransformer with a OneHotEncoder) registered at `churn@champion`, without any pipeline run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_nb import records, store
from tests.integration.pipeline_project import inside

CHURN = "churn"
CHURN_REF = f"{CHURN}@{records.ALIAS_CHAMPION}"
CHURN_COLUMNS = ["age", "income", "city", "plan"]


def churn_rows(rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows of the churn model's inputs; `city` holds commas."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "income": rng.normal(50, 10, rows),
            "city": rng.choice(["Paris", "Lyon", "Nice, FR"], rows),
            "plan": rng.choice(["1", "2"], rows),
        }
    )


def user_project(root: Path) -> Iterator[Path]:
    """The project at `root` (as the working directory) with `churn@champion` registered."""
    import mlflow
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops_nb.registry.register import register

    root.mkdir(parents=True)
    (root / "mlops.toml").write_text("", encoding="utf-8")
    with inside(root):
        frame = churn_rows(400)
        labels = np.where((frame.age > 40) ^ (frame.city == "Paris"), "yes", "no")
        prep = ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
            ]
        )
        model = Pipeline([("prep", prep), ("lr", LogisticRegression())]).fit(frame, labels)
        mlflow.set_tracking_uri(store.ensure_store().tracking_uri)
        run = store.writer().create_run(store.experiment_id("user"), {})
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(3))
        version = register(run.info.run_id, info.model_uri, CHURN).version
        store.writer().set_alias(CHURN, records.ALIAS_CHAMPION, version)
        yield root


def own_predictions(frame: pd.DataFrame) -> np.ndarray:
    """The churn model's own predictions of `frame`."""
    import mlflow.sklearn

    from mlops_nb.serving.target import location

    version = store.client().get_model_version_by_alias(CHURN, records.ALIAS_CHAMPION)
    return mlflow.sklearn.load_model(location(version, store.client())).predict(frame[CHURN_COLUMNS])
