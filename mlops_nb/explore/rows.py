"""One run as a table row: status, timing, mode, latest metrics and the warnings its tags carry."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_nb import records

if TYPE_CHECKING:
    from mlflow.entities import Run

_WARNING_TEXT = {
    "execution_order": "Cells ran out of order; the results may not follow from the notebook as saved.",
    "split_leakage": "The same rows appear in more than one data split.",
    "git_dirty": "The code had uncommitted changes (see the git diff artifact).",
}


def finite(value: float | None) -> float | None:
    """`value`, or None for NaN and infinities (JSON has neither)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinity inside dicts and lists replaced by None."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def warnings_from_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Warnings recorded on a run: every ``mlops_nb.warning.<code>`` tag, plus the execution-order and
    dirty-git flags when capture set the state tag without a warning tag."""
    found: dict[str, str] = {}
    for key, value in tags.items():
        if key.startswith(records.TAG_WARNING_PREFIX):
            code = key[len(records.TAG_WARNING_PREFIX) :]
            if value and value.lower() not in {"false", "0", "none"}:
                found[code] = value if value.lower() != "true" else _WARNING_TEXT.get(code, code)
    if tags.get(records.TAG_EXECUTION_ORDER) == records.EXECUTION_OUT_OF_ORDER:
        found.setdefault("execution_order", _WARNING_TEXT["execution_order"])
    if tags.get(records.TAG_GIT_DIRTY) == "true":
        found.setdefault("git_dirty", _WARNING_TEXT["git_dirty"])
    return [{"code": code, "message": found[code]} for code in sorted(found)]


def mode(tags: Mapping[str, str]) -> str | None:
    """``interactive`` or ``pipeline`` for runs mlops_nb tracked, else None."""
    value = tags.get(records.TAG_MODE)
    return value if value in (records.MODE_INTERACTIVE, records.MODE_PIPELINE) else None


def duration_ms(status: str, start: int | None, end: int | None, now_ms: int | None = None) -> int | None:
    """Run duration; a running run counts up to now."""
    if start is None:
        return None
    if end is None:
        return (now_ms or int(time.time() * 1000)) - start if status == "RUNNING" else None
    return max(0, end - start)


def row(
    run_id: str,
    *,
    experiment_id: str,
    name: str | None,
    status: str,
    start: int | None,
    end: int | None,
    params: Mapping[str, str],
    metrics: Mapping[str, float | None],
    tags: Mapping[str, str],
    child_count: int | None = None,
) -> dict[str, Any]:
    """The RunRow of the REST contract; `child_count` is None where it was not counted."""
    return {
        "run_id": run_id,
        "run_name": name or tags.get(records.RUN_NAME) or run_id[:8],
        "experiment_id": str(experiment_id),
        "status": status,
        "start_time": start,
        "end_time": end,
        "duration_ms": duration_ms(status, start, end),
        "mode": mode(tags),
        "parent_run_id": tags.get(records.PARENT_RUN_ID),
        "notebook_path": tags.get(records.TAG_NOTEBOOK_PATH) or tags.get(records.SOURCE_NAME),
        "git_commit": tags.get(records.SOURCE_GIT_COMMIT),
        "params": dict(params),
        "metrics": {key: finite(value) for key, value in metrics.items()},
        "warnings": warnings_from_tags(tags),
        "kind": tags.get(records.TAG_PIPELINE_KIND),
        "child_count": child_count,
        "sweep_best": tags.get(records.TAG_SWEEP_BEST) == "true",
        "user_tags": user_tags(tags),
    }


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a user set: neither MLflow's (``mlflow.*``) nor mlops_nb's (``mlops_nb.*``)."""
    return {key: value for key, value in tags.items() if not key.startswith(("mlflow.", "mlops_nb."))}


def from_run(run: Run) -> dict[str, Any]:
    """The RunRow of an MLflow Run entity."""
    info, data = run.info, run.data
    return row(
        info.run_id,
        experiment_id=info.experiment_id,
        name=info.run_name,
        status=info.status,
        start=info.start_time,
        end=info.end_time,
        params=data.params,
        metrics=data.metrics,
        tags=data.tags,
    )
