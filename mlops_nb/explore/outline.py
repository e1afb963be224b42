"""A pipeline run's steps with their key outputs, and a sweep's points ranked by the pipeline's metric.

The sweep's best point is the one the sweep itself marked (``records.TAG_SWEEP_BEST``, with the parameters of
``records.ARTIFACT_SWEEP_BEST``): it is read, never chosen again here, so a tie shows the sweep's choice.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import MlopsError, UsageError
from mlops_nb.explore import checks, columns, rows

MAX_CHILDREN = 5000


def _children(client: Any, run: Any) -> list[Any]:
    found = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{records.PARENT_RUN_ID}` = '{run.info.run_id}'",
        max_results=MAX_CHILDREN,
        order_by=["attributes.start_time ASC"],
    )
    return list(found)


def _model(client: Any, run: Any) -> dict[str, Any]:
    """The pipeline file's ``model`` section as recorded with the run (``pipeline/`` artifact), or {}."""
    import yaml

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(
                client.download_artifacts(run.info.run_id, records.ARTIFACT_PIPELINE_FILE_DIR, folder)
            )
        except Exception:  # a missing or unreadable record: shown as absent
            return {}
        for path in sorted(local.glob("*.y*ml")):
            try:
                model = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("model")
            except (yaml.YAMLError, AttributeError):
                return {}
            return model if isinstance(model, dict) else {}
    return {}


def _aliases(client: Any, name: str) -> dict[str, list[str]]:
    by_version: dict[str, list[str]] = {}
    with checks.translated(f"registered model {name}"):
        for alias, version in client.get_registered_model(name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
    return by_version


def _version(client: Any, model_name: str | None, version: str | None, cache: dict) -> dict[str, Any] | None:
    """{name, version, aliases} of a registered version named by a registration step."""
    if not version:
        return None
    aliases: list[str] = []
    if model_name:
        try:
            if model_name not in cache:
                cache[model_name] = _aliases(client, model_name)
            aliases = sorted(cache[model_name].get(version, []))
        except MlopsError:
            cache[model_name] = {}
    return {"name": model_name, "version": version, "aliases": aliases}


def _key_metrics_first(row: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """The row with its metrics in the order the page shows its first few (see columns.key_metrics_first)."""
    ordered = columns.key_metrics_first(row["metrics"], tags)
    return {**row, "metrics": {name: row["metrics"][name] for name in ordered}}


def _step(client: Any, step: Any, model_name: str | None, cache: dict) -> dict[str, Any]:
    tags = step.data.tags
    rows_ingested = tags.get(records.TAG_DATA_ROWS)
    return {
        "run": _key_metrics_first(rows.from_run(step), tags),
        "step": tags.get(records.TAG_PIPELINE_STEP) or step.info.run_name,
        "rows_ingested": int(rows_ingested) if rows_ingested and rows_ingested.isdigit() else None,
        "gate": tags.get(records.TAG_GATE_PASSED),
        "error": tags.get(records.TAG_ERROR),
        "model_version": _version(client, model_name, tags.get(records.TAG_MODEL_VERSION), cache),
    }


def _run(client: Any, run_id: str, kind: str) -> Any:
    run = client.get_run(checks.run_id(run_id))
    found = run.data.tags.get(records.TAG_PIPELINE_KIND)
    wanted = (kind, records.PIPELINE_KIND_REPRODUCTION) if kind == records.PIPELINE_KIND_PIPELINE else (kind,)
    if found not in wanted:
        raise UsageError(
            f"Run {run_id} is not a {kind} run (its {records.TAG_PIPELINE_KIND} is {found or 'unset'}).",
            hint="Open it as a run instead.",
        )
    return run


def pipeline_outline(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """A pipeline run, its metrics, and its steps in order with their key outputs."""
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = _run(client, run_id, records.PIPELINE_KIND_PIPELINE)
        model = _model(client, run)
        cache: dict[str, dict[str, list[str]]] = {}
        steps = [_step(client, step, model.get("name"), cache) for step in _children(client, run)]
    return {
        "run": rows.from_run(run),
        "model_name": model.get("name"),
        "metric": model.get("metric"),
        "steps": steps,
    }


def _metric(sweep: Any, model: dict[str, Any]) -> tuple[str | None, bool]:
    """The pipeline's metric (model.metric, else the sweep's ``best_<metric>``) and whether higher is better
    (the pipeline file's greater_is_better, else pipelines.spec's default for that name)."""
    metric = model.get("metric")
    if not isinstance(metric, str):
        metric = next((key[5:] for key in sorted(sweep.data.metrics) if key.startswith("best_")), None)
    greater = model.get("greater_is_better")
    if not isinstance(greater, bool):
        greater = not (metric or "").endswith(("rmse", "mae", "loss"))
    return metric, greater


def _best_parameters(client: Any, sweep_id: str) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(sweep_id, records.ARTIFACT_SWEEP_BEST, folder)
            found = json.loads(Path(path).read_text(encoding="utf-8"))
        except Exception:  # a missing or unreadable record: shown as absent
            return None
    return found if isinstance(found, dict) else None


def sweep_outline(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """A sweep's points ranked by the pipeline's metric, its recorded best point and that point's version."""
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        sweep = _run(client, run_id, records.PIPELINE_KIND_SWEEP)
        points = _children(client, sweep)
        model = _model(client, points[0]) if points else {}
        metric, greater = _metric(sweep, model)
        registrations = client.search_runs(
            [sweep.info.experiment_id],
            filter_string=f"tags.`{records.TAG_PIPELINE_STEP}` = '{records.STEP_REGISTRATION}'",
            max_results=MAX_CHILDREN,
        )
        best_parameters = _best_parameters(client, sweep.info.run_id)
    point_ids = {p.info.run_id for p in points}
    version_of = {
        r.data.tags.get(records.PARENT_RUN_ID): r.data.tags.get(records.TAG_MODEL_VERSION)
        for r in registrations
        if r.data.tags.get(records.PARENT_RUN_ID) in point_ids
    }
    cache: dict[str, dict[str, list[str]]] = {}
    table = []
    for order, point in enumerate(points):
        tags = point.data.tags
        try:
            parameters = json.loads(tags.get(records.TAG_SWEEP_POINT) or "{}")
        except ValueError:
            parameters = {}
        value = rows.finite(point.data.metrics.get(metric)) if metric else None
        best = tags.get(records.TAG_SWEEP_BEST) == "true"
        table.append(
            {
                "run": rows.from_run(point),
                "parameters": parameters if isinstance(parameters, dict) else {},
                "metric": value,
                "best": best,
                "model_version": _version(
                    client, model.get("name"), version_of.get(point.info.run_id), cache
                ),
                "_order": order,
            }
        )
    # rank by the metric; on a tie the sweep's own best point comes first, then the order the points ran
    table.sort(
        key=lambda p: (
            p["metric"] is None,
            0 if p["metric"] is None else (-p["metric"] if greater else p["metric"]),
            not p["best"],
            p["_order"],
        )
    )
    for rank, point in enumerate(table, start=1):
        point["rank"] = rank if point["metric"] is not None else None
        del point["_order"]
    best_point = next((p for p in table if p["best"]), None)
    return {
        "run": rows.from_run(sweep),
        "metric": metric,
        "greater_is_better": greater,
        "model_name": model.get("name"),
        "best_run_id": best_point["run"]["run_id"] if best_point else None,
        "best_parameters": best_parameters,
        "registered": best_point["model_version"] if best_point else None,
        "points": table,
    }
