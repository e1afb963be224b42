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


MAX_TITLE = 200  # characters of a run name made from params; longer ones end with "…"
_TITLE_VALUE = 24  # characters of one value in it


def run_title(prefix: str, values: dict[str, Any], first: tuple[str, ...] = ()) -> str:
    """A run name such as ``train_classifier alpha=0.001 epochs=10``: the names in `first`, then the others
    sorted; each value as its param text, long values and a long name cut with "…"."""
    names = [n for n in first if n in values] + sorted(n for n in values if n not in first)
    parts = [prefix]
    for name in names:
        text = param_text(values[name]).replace("\n", " ")
        parts.append(f"{name}={text if len(text) <= _TITLE_VALUE else text[: _TITLE_VALUE - 1] + '…'}")
    title = " ".join(parts)
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…"
