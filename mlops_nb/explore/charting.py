"""What the compare charts start on (explore/columns.py decides the kinds): the default metric, the params
that become parallel-coordinate axes (the user's, without long reprs), which of them are categorical and which
span decades (log axes). Runs recorded before the pipeline metric was tagged take it from the copy of the
pipeline file their pipeline run keeps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from mlops_nb import records
from mlops_nb.config import Settings
from mlops_nb.exceptions import MlopsError
from mlops_nb.explore import artifacts, columns

MAX_AXES = 12
MAX_CATEGORY_TEXT = 40  # a param value longer than this (an estimator repr, a list) is not an axis


def _pipeline_run(tags: dict[str, str], run_id: str) -> str | None:
    if tags.get(records.TAG_PIPELINE_KIND) == records.PIPELINE_KIND_PIPELINE:
        return run_id
    return tags.get(records.TAG_PIPELINE_RUN)


def pipeline_file_metric(run_id: str, settings: Settings) -> str | None:
    """`model.metric` of the pipeline file a pipeline run kept (``pipeline/<file>.yaml``), or None."""
    import yaml

    try:
        listed = artifacts.list_artifacts(run_id, records.ARTIFACT_PIPELINE_FILE_DIR, settings)
        files = [e["path"] for e in listed["entries"] if PurePosixPath(e["path"]).suffix in (".yaml", ".yml")]
        if not files:
            return None
        spec = yaml.safe_load(artifacts.read_artifact(run_id, files[0], settings))
    except (MlopsError, yaml.YAMLError, UnicodeDecodeError):
        return None  # no readable pipeline file: the charts fall back to the notebook's metrics
    model = spec.get("model") if isinstance(spec, dict) else None
    metric = model.get("metric") if isinstance(model, dict) else None
    return metric if isinstance(metric, str) else None


def chart_defaults(
    table: Sequence[dict[str, Any]], tags: Sequence[dict[str, str]], settings: Settings
) -> dict[str, Any]:
    """The ChartDefaults of the REST contract for runs `table` (RunRows) with their `tags`."""
    param_kinds = columns.merge(
        columns.classify_params(row["params"], run_tags) for row, run_tags in zip(table, tags, strict=True)
    )
    metric_kinds = columns.merge(
        columns.classify_metrics(row["metrics"], run_tags) for row, run_tags in zip(table, tags, strict=True)
    )
    if "pipeline" not in metric_kinds.values():
        pipeline_ids = dict.fromkeys(
            p for row, t in zip(table, tags, strict=True) if (p := _pipeline_run(t, row["run_id"]))
        )
        for pipeline_id in list(pipeline_ids)[:1]:
            metric = pipeline_file_metric(pipeline_id, settings)
            if metric in metric_kinds:
                metric_kinds[metric] = "pipeline"
    newest_first = [
        t for _, t in sorted(zip(table, tags, strict=True), key=lambda p: -(p[0]["start_time"] or 0))
    ]
    values = {name: [row["params"].get(name) for row in table] for name in param_kinds}
    user = sorted(name for name, kind in param_kinds.items() if kind == "user")
    axes = [name for name in user if all(len(v or "") <= MAX_CATEGORY_TEXT for v in values[name])]
    differing = columns.differing(table, axes)
    axes = (differing or axes)[:MAX_AXES]
    return {
        "param_kinds": param_kinds,
        "metric_kinds": metric_kinds,
        "default_metric": columns.default_metric(metric_kinds, newest_first),
        "axes": axes,
        "categorical": [name for name in axes if not columns.numeric(values[name])],
        "log_scale": [name for name in axes if columns.log_scale(values[name])],
    }
