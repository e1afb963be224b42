"""Which params and metrics matter: one classification for the panel, the REST API and the widget.

Per run (its params, metric keys and tags):

- ``classify_params(params, tags) -> {name: kind}``, kind one of PARAM_KINDS: ``user`` (the parameters
  cells, papermill's injected values, ``%mlops config`` / ``log_config`` and anything else the user logged),
  ``autolog`` (MLflow autologging's estimator params: ``sgdclassifier__alpha``, ``steps``, reprs such as
  ``SGDClassifier(alpha=0.001)``), ``internal`` (set by mlops_nb: ``data_path`` on a pipeline's runs).
- ``classify_metrics(names, tags) -> {name: kind}``, kind one of METRIC_KINDS: ``pipeline`` (the pipeline
  file's ``model.metric``), ``notebook`` (logged by the notebook through mlops_nb), ``evaluation`` (the
  pipeline's other overall scores), ``slice`` (per-slice scores ``test_accuracy.mean radius._11.765_ 13.6_``),
  ``autolog`` (``training_*``, ``accuracy_score_X_test``), ``internal`` (ingestion counts, a sweep's best).

Over several runs:

- ``merge(kinds_per_run)``: one kind per name; the most user-facing kind any run gives it wins.
- ``default_columns(param_kinds, metric_kinds) -> {"params": [...], "metrics": [...]}``: user params, the
  pipeline metric, notebook metrics (in that order, params sorted by name).
- ``default_metric(metric_kinds, tags_per_run)``: the pipeline's ``model.metric``, else the metric the notebook
  of the most recent run logged last, else the first non-autolog, non-slice metric by name.
- ``log_scale(values) -> bool``: positive numbers spanning at least a decade (max/min ≥ LOG_RATIO).
- ``differing(rows, names, field="params") -> [names]``: names whose value is not the same in every row.

Runs recorded before the record tags existed (``records.TAG_PARAMS_USER``, ``TAG_METRICS_NOTEBOOK``,
``TAG_PIPELINE_METRIC``) are classified from their names alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlops_nb import records

PARAM_KINDS = ("user", "internal", "autolog")  # most user-facing first
METRIC_KINDS = ("pipeline", "notebook", "evaluation", "internal", "slice", "autolog")
LOG_RATIO = 10.0

# Params of sklearn's Pipeline (and estimators generally) that autologging writes beside the step params.
_AUTOLOG_ESTIMATOR_PARAMS = {"memory", "steps", "verbose", "transform_input"}
_AUTOLOG_ESTIMATOR_TAG = "estimator_class"  # set by mlflow.sklearn autologging on the run it logs into
_REPR = re.compile(r"^[A-Za-z_][\w.]*\(.*\)$|^\[\(", re.DOTALL)
_SLICE = re.compile(r"^test_\w+\..+\..+$")  # test_<metric>.<column>.<value> (pipelines/evaluation.py)
_AUTOLOG_METRIC = re.compile(r"^training_|_score_[A-Za-z_]\w*(-\d+)?$")  # accuracy_score_X_test
_OUR_METRICS = {"rows", "rows_read", "files"}  # ingestion's counts


def json_list(tags: Mapping[str, str], tag: str) -> list[str] | None:
    """The JSON list in tag `tag`, or None when absent or unreadable."""
    try:
        value = json.loads(tags[tag])
    except (KeyError, TypeError, ValueError):
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def _autolog_param(name: str, value: str | None, tags: Mapping[str, str]) -> bool:
    if "__" in name or (value is not None and _REPR.match(value.strip())):
        return True
    return _AUTOLOG_ESTIMATOR_TAG in tags and name in _AUTOLOG_ESTIMATOR_PARAMS


def classify_params(params: Mapping[str, str | None], tags: Mapping[str, str]) -> dict[str, str]:
    """Kind of each param of one run (see the module docstring)."""
    user = set(json_list(tags, records.TAG_PARAMS_USER) or ())
    kinds = {}
    pipeline = tags.get(records.TAG_MODE) == records.MODE_PIPELINE
    for name, value in params.items():
        if pipeline and name == records.PARAM_DATA_PATH:
            kinds[name] = "internal"  # the pipeline's ingested rows, a new path on every run
        elif name in user:
            kinds[name] = "user"
        elif _autolog_param(name, value, tags) or (user and _AUTOLOG_ESTIMATOR_TAG in tags):
            kinds[name] = "autolog"  # with the user list recorded, autolog wrote whatever it does not name
        else:
            kinds[name] = "user"
    return kinds


def classify_metrics(names: Iterable[str], tags: Mapping[str, str]) -> dict[str, str]:
    """Kind of each metric key of one run (see the module docstring)."""
    pipeline_metric = tags.get(records.TAG_PIPELINE_METRIC)
    notebook = json_list(tags, records.TAG_METRICS_NOTEBOOK)
    ours = tags.get(records.TAG_PIPELINE_KIND) in (
        records.PIPELINE_KIND_PIPELINE,
        records.PIPELINE_KIND_SWEEP,
        records.PIPELINE_KIND_REPRODUCTION,
    ) or tags.get(records.TAG_PIPELINE_STEP) in (records.STEP_INGESTION, records.STEP_EVALUATION)
    kinds = {}
    for name in names:
        if notebook is not None and name in notebook:
            kinds[name] = "pipeline" if name == pipeline_metric else "notebook"
        elif _SLICE.match(name):
            kinds[name] = "slice"
        elif name == pipeline_metric:
            kinds[name] = "pipeline"
        elif ours:
            is_score = name.startswith("test_")
            kinds[name] = "evaluation" if is_score else "internal"
        elif name in _OUR_METRICS and tags.get(records.TAG_PIPELINE_STEP):
            kinds[name] = "internal"
        elif notebook is not None or _AUTOLOG_METRIC.search(name):
            kinds[name] = "autolog"  # with the notebook's list recorded, anything else came from MLflow
        else:
            kinds[name] = "notebook"
    return kinds


def key_metrics_first(names: Iterable[str], tags: Mapping[str, str]) -> list[str]:
    """Metric names in the order a run's pages show them: the pipeline's metric, the notebook's own,
    evaluation's, ours, then slices and autolog's (by name within a kind)."""
    kinds = classify_metrics(names, tags)
    rank = {kind: index for index, kind in enumerate(METRIC_KINDS)}
    return sorted(kinds, key=lambda name: (rank[kinds[name]], name))


def merge(kinds_per_run: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """One kind per name over several runs: the most user-facing kind any run gives it."""
    rank = {kind: index for index, kind in enumerate((*METRIC_KINDS, *PARAM_KINDS))}
    merged: dict[str, str] = {}
    for kinds in kinds_per_run:
        for name, kind in kinds.items():
            if name not in merged or rank[kind] < rank[merged[name]]:
                merged[name] = kind
    return merged


def default_columns(param_kinds: Mapping[str, str], metric_kinds: Mapping[str, str]) -> dict[str, list[str]]:
    """The columns shown before the user chooses: user params, then the pipeline and notebook metrics."""
    params = sorted(name for name, kind in param_kinds.items() if kind == "user")
    metrics = sorted(
        (name for name, kind in metric_kinds.items() if kind in ("pipeline", "notebook")),
        key=lambda name: (metric_kinds[name] != "pipeline", name),
    )
    return {"params": params, "metrics": metrics}


def default_metric(
    metric_kinds: Mapping[str, str], tags_per_run: Sequence[Mapping[str, str]] = ()
) -> str | None:
    """The metric charts start on: the pipeline's model.metric, else the notebook's most recently logged
    metric (runs newest first), else the first metric by name that is neither autolog nor a slice."""
    pipeline = sorted(name for name, kind in metric_kinds.items() if kind == "pipeline")
    if pipeline:
        return pipeline[0]
    for tags in tags_per_run:
        for name in reversed(json_list(tags, records.TAG_METRICS_NOTEBOOK) or []):
            if name in metric_kinds:
                return name
    for wanted in (("notebook",), ("evaluation", "internal"), METRIC_KINDS):
        names = sorted(name for name, kind in metric_kinds.items() if kind in wanted)
        if names:
            return names[0]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def log_scale(values: Iterable[Any]) -> bool:
    """Whether an axis over `values` reads better logarithmic: all numbers, all > 0, max/min ≥ LOG_RATIO."""
    numbers = []
    for value in values:
        if value is None:
            continue
        number = _number(value)
        if number is None or number <= 0:
            return False
        numbers.append(number)
    return len(set(numbers)) > 1 and max(numbers) / min(numbers) >= LOG_RATIO


def numeric(values: Iterable[Any]) -> bool:
    """Whether every value present (None skipped) reads as a finite number, so an axis can be numeric."""
    present = [value for value in values if value is not None]
    return bool(present) and all(_number(value) is not None for value in present)


def differing(rows: Sequence[Mapping[str, Any]], names: Iterable[str], field: str = "params") -> list[str]:
    """The names among `names` whose value (missing counts as a value) is not the same in every row."""
    return [name for name in names if len({repr(row[field].get(name)) for row in rows}) > 1]
