"""Compare runs: params side by side (optionally only those that differ), metric histories aligned by step,
and a summary per metric and run.

On the embedded store everything is read in a handful of SQL queries, whatever the number of runs;
on a tracking server it goes through MlflowClient, one run and one metric history at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from mlops_nb import mlflow_internals, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.explore import charting, checks, metric_data, outcomes, rows

MAX_RUNS = 1000
MAX_METRICS = 100
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "mape", "logloss")


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric `key` is better, judged by its name."""
    lowered = key.lower()
    return any(word in lowered for word in _LOWER_IS_BETTER)


def _check(run_ids: object, metrics: object) -> tuple[list[str], list[str] | None]:
    if not isinstance(run_ids, list) or not 1 <= len(run_ids) <= MAX_RUNS:
        raise UsageError(f"run_ids must be a list of 1 to {MAX_RUNS} run ids.")
    ids = [checks.run_id(run_id) for run_id in run_ids]
    if len(set(ids)) != len(ids):
        raise UsageError("run_ids lists a run more than once.", hint="Give each run id once.")
    if metrics is None:
        return ids, None
    if (
        not isinstance(metrics, list)
        or len(metrics) > MAX_METRICS
        or not all(isinstance(k, str) for k in metrics)
    ):
        raise UsageError(f"metrics must be a list of at most {MAX_METRICS} metric keys.")
    return ids, list(dict.fromkeys(metrics))


def _param_rows(table: Sequence[dict[str, Any]], diff_only: bool) -> list[dict[str, Any]]:
    keys = sorted({key for r in table for key in r["params"]})
    result = []
    for key in keys:
        values = [r["params"].get(key) for r in table]
        differs = len(set(values)) > 1
        if differs or not diff_only:
            result.append({"key": key, "values": values, "differs": differs})
    return result


Series = tuple[list[int], list[float | None]]  # steps ascending, values (None for NaN)


def _summary(run_id: str, series: Series | None) -> dict[str, Any]:
    steps, values = series or ([], [])
    present = values if None not in values else [v for v in values if v is not None]
    return {
        "run_id": run_id,
        "last": values[-1] if values else None,
        "min": min(present) if present else None,
        "max": max(present) if present else None,
        "mean": sum(present) / len(present) if present else None,
        "count": len(values),
        "last_step": steps[-1] if steps else None,
    }


def _best(key: str, summaries: list[dict[str, Any]]) -> str | None:
    scored = [(s["last"], s["run_id"]) for s in summaries if s["last"] is not None]
    if not scored:
        return None
    pick = min if lower_is_better(key) else max
    return pick(scored, key=lambda pair: pair[0])[1]


def _collect(points: Iterable[Point]) -> dict[str, dict[str, Series]]:
    """key → run → (steps, values) from points ordered by run, key and step; when a step repeats,
    the point with the latest timestamp wins."""
    per_key: dict[str, dict[str, Series]] = {}
    for (run_id, key), group in groupby(points, key=itemgetter(0, 1)):
        steps: list[int] = []
        values: list[float | None] = []
        last_stamp = None
        for _, _, step, value, stamp in group:
            if steps and steps[-1] == step:
                if stamp >= last_stamp:
                    values[-1], last_stamp = value, stamp
                continue
            steps.append(step)
            values.append(value)
            last_stamp = stamp
        per_key.setdefault(key, {})[run_id] = (steps, values)
    return per_key


def _aligned(ids: Sequence[str], by_run: dict[str, Series]) -> tuple[list[int], list[list[float | None]]]:
    """The union of the runs' steps and each run's values on it (None where a run has no point)."""
    distinct = {tuple(steps) for steps, _ in by_run.values()}
    if len(distinct) == 1 and len(by_run) == len(ids):  # the usual case: every run logged the same steps
        steps = list(distinct.pop())
        return steps, [by_run[run_id][1] for run_id in ids]
    steps = sorted({step for run_steps, _ in by_run.values() for step in run_steps})
    position = {step: index for index, step in enumerate(steps)}
    table = []
    for run_id in ids:
        values: list[float | None] = [None] * len(steps)
        run_steps, run_values = by_run.get(run_id, ([], []))
        for step, value in zip(run_steps, run_values, strict=True):
            values[position[step]] = value
        table.append(values)
    return steps, table


def _align(
    ids: Sequence[str], keys: Sequence[str], points: Iterable[Point], histories: bool
) -> list[dict[str, Any]]:
    """Metric comparisons from (run, key, step, value, timestamp) points ordered by run, key and step
    (values already JSON-safe: None for NaN)."""
    per_key = _collect(points)
    result = []
    for key in keys:
        by_run = per_key.get(key, {})
        summaries = [_summary(run_id, by_run.get(run_id)) for run_id in ids]
        entry: dict[str, Any] = {"key": key, "steps": [], "series": [], "summary": summaries}
        if histories:
            steps, table = _aligned(ids, by_run)
            entry["steps"] = steps
            entry["series"] = [
                {"run_id": run_id, "values": values} for run_id, values in zip(ids, table, strict=True)
            ]
        entry["best_run_id"] = _best(key, summaries)
        result.append(entry)
    return result


def _row(run_id: str, info: tuple, params: dict, metrics: dict, tags: dict) -> dict[str, Any]:
    experiment_id, name, status, start, end = info
    return rows.row(
        run_id,
        experiment_id=experiment_id,
        name=name,
        status=status,
        start=start,
        end=end,
        params=params,
        metrics=metrics,
        tags=tags,
    )


Fetched = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, str]]]
Point = tuple[str, str, int, float | None, int]


def _embedded(settings: Settings, ids: list[str], metrics: list[str] | None, histories: bool) -> Fetched:
    with mlflow_internals.connect(settings) as conn:
        infos = mlflow_internals.runs(conn, ids)
        missing = [run_id for run_id in ids if run_id not in infos]
        if missing:
            raise NotFoundError(
                f"Unknown or deleted run(s): {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}."
            )
        params = mlflow_internals.key_values(conn, "params", ids)
        tags = mlflow_internals.key_values(conn, "tags", ids)
        latest = mlflow_internals.latest_metrics(conn, ids)
        keys = metrics if metrics is not None else sorted({key for m in latest.values() for key in m})
        table = [_row(run_id, infos[run_id], params[run_id], latest[run_id], tags[run_id]) for run_id in ids]
        points = mlflow_internals.metric_points(conn, ids, metrics)
        return table, _align(ids, keys, points, histories), [tags[run_id] for run_id in ids]


def _tracking_server(
    settings: Settings, ids: list[str], metrics: list[str] | None, histories: bool
) -> Fetched:
    client = store.client(settings)
    runs = []
    for run_id in ids:
        with checks.translated(f"run {run_id}"):
            runs.append(client.get_run(run_id))
    keys = metrics if metrics is not None else sorted({key for run in runs for key in run.data.metrics})

    def points() -> Iterable[Point]:
        for run in runs:
            for key in keys:
                if key not in run.data.metrics:
                    continue
                with checks.translated(f"metric {key!r} of run {run.info.run_id}"):
                    history = client.get_metric_history(run.info.run_id, key)
                for m in sorted(history, key=lambda m: (m.step, m.timestamp)):
                    yield run.info.run_id, key, m.step, rows.finite(m.value), m.timestamp

    table = [rows.from_run(run) for run in runs]
    return table, _align(ids, keys, points(), histories), [dict(run.data.tags) for run in runs]


def compare(
    run_ids: list[str],
    *,
    metrics: list[str] | None = None,
    diff_only: bool = False,
    histories: bool = True,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The Comparison of the REST contract for `run_ids` (in that order)."""
    ids, keys = _check(run_ids, metrics)
    if not isinstance(diff_only, bool) or not isinstance(histories, bool):
        raise UsageError("diff_only and histories must be true or false.")
    settings = store.ensure_store(settings)
    fetch = _embedded if settings.embedded else _tracking_server
    table, metric_rows, tags = fetch(settings, ids, keys, histories)
    data = [
        {**outcomes.evaluation_data(run_tags, row["metrics"]), **metric_data.from_tags(run_tags)}
        for row, run_tags in zip(table, tags, strict=True)
    ]
    for entry in metric_rows:
        entry["computed_on"] = [run_data.get(entry["key"]) for run_data in data]
    return {
        "runs": table,
        "diff_only": diff_only,
        "params": _param_rows(table, diff_only),
        "metrics": metric_rows,
        "chart": charting.chart_defaults(table, tags, settings),
    }
