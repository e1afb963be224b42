"""A throw-away project with a registered LogisticRegression (logged with an input example) at
`bench-model@champion`, for the serving benchmarks."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
MODEL = "bench-model"
REF = f"{MODEL}@champion"
FEATURES = ["x1", "x2", "x3", "x4"]


def rows(count: int, seed: int = 0) -> pd.DataFrame:
    """`count` rows of the model's four numeric inputs."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: rng.normal(size=count) for name in FEATURES})


def project() -> tuple[Path, dict[str, str]]:
    """The project folder and the environment a command needs to use its store (set in this process too)."""
    root = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    (root / "mlops.toml").write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}}
    env.update(MLOPS_NB_PROJECT=str(root), PYTHONPATH=str(ROOT), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    os.environ.update(env)
    os.chdir(root)
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mlops_nb import store
    from mlops_nb.registry.register import register

    settings = store.ensure_store()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)
    train = rows(2_000, seed=1)
    label = (train.x1 + 0.5 * train.x2 > 0).astype(int)
    model = LogisticRegression().fit(train, label)
    run = store.writer().create_run(store.experiment_id("bench"), {})
    with mlflow.start_run(run_id=run.info.run_id):
        info = mlflow.sklearn.log_model(model, name="model", input_example=train.head(3))
    version = register(run.info.run_id, info.model_uri, MODEL).version
    store.writer().set_alias(MODEL, "champion", version)
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    return root, env
