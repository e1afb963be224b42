"""How a value becomes a param's text in MLflow: one rule for every writer (a notebook's `%mlops track` and
`log_config`, and the pipeline runner), so that a run records the same params whichever way it was made."""

from __future__ import annotations

import json
from typing import Any

MAX_LENGTH = 6000  # MLflow's limit on a param value


def param_text(value: Any) -> str:
    """JSON for numbers, booleans, None, lists and dicts (``true``, ``null``, ``["a"]``); a string as
    itself; str() for anything else (a Path or a date reads as itself, not as a quoted JSON string)."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float | list | tuple | dict):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text[:MAX_LENGTH]
