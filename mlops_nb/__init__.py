"""mlops_nb: Jupyter-native MLOps on MLflow.

The public API is importable without loading MLflow, pandas or scikit-learn; they load on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("mlops_nb")  # defined once, in package.json
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from mlops_nb.capture.session import Session

__all__ = ["log_config", "log_metrics", "log_split", "status", "stop", "track"]


def track(
    experiment: str | None = None,
    run_name: str | None = None,
    *,
    autolog: bool = True,
    notebook: str | None = None,
) -> Session:
    """Open (or resume) the run bound to this notebook or process; attach to a pipeline's run when one is set."""
    from mlops_nb.capture import session

    return session.track(experiment=experiment, run_name=run_name, autolog=autolog, notebook=notebook)


def log_config(config: dict[str, Any]) -> dict[str, Any]:
    """Record explicit configuration values as params (typed values kept in an artifact)."""
    from mlops_nb.capture import session

    return session.active().log_config(config)


def log_split(*, seed: int | None = None, **splits: Any) -> dict[str, str]:
    """Record data splits (e.g. ``train=X_train, test=X_test``) as MLflow dataset inputs with fingerprints and
    statistics; returns each split's digest."""
    from mlops_nb.capture import session

    profiles = session.active().log_split(splits, seed=seed)
    return {name: profile["digest"] for name, profile in profiles.items()}


def log_metrics(metrics: dict[str, float], step: int | None = None, *, split: str | None = None) -> None:
    """Buffer metric points; they are written in batches off the caller's thread. `split` names the split
    (given to log_split) they were computed on; without it, a name such as ``test_accuracy`` says so."""
    from mlops_nb.capture import session

    session.active().log_metrics(metrics, step=step, split=split)


def status() -> dict[str, Any]:
    """What the active run has captured so far, with warnings."""
    from mlops_nb.capture import session

    return session.status()


def stop() -> str | None:
    """Flush buffered metrics and end the active run; returns its id (None when no run was active)."""
    from mlops_nb.capture import session

    return session.stop()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mlops_nb``: register the ``%mlops`` magic (imports nothing heavy)."""
    from mlops_nb.ipython.magics import register

    register(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlops_nb.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "mlops-nb"}]
