"""How a value becomes a param's text in MLflow: one rule for every writer (a notebook's `%mlops track` and
`log_config`, and the pipeline runner), so that a run records the same params whichever way it was made."""

from __future__ import annotations

from typing import Any

MAX_LENGTH = 6000  # MLflow's limit on a param value


def param_text(value: Any) -> str:
    """MLflow's own rule, ``str(value)`` (``True``, ``None``, ``['a']``): autologging and a notebook's own
    ``mlflow.log_param`` write a value that way, and MLflow refuses to log a param again with other text,
    so a notebook parameter that is also an estimator's (``fit_intercept``, ``random_state``) must agree."""
    return str(value)[:MAX_LENGTH]
