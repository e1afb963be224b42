"""The panel's runs table: any page of an experiment's runs by offset, sorted on any column, as a tree.

On the embedded store a page is one SQL query over MLflow's tables (mlflow_internals.run_page), so the page
under the scroll position loads without the pages before it. A filter in MLflow's search syntax, or a tracking
server, goes through ``MlflowClient.search_runs`` instead (flat when filtered).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from mlops_nb import mlflow_internals, records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import checks, columns, rows
from mlops_nb.explore.runs import STATUSES, _max_results, _text

MAX_OFFSET = 10_000_000
SAMPLE = 300  # the most recent runs whose records classify the columns
SEARCH_LIMIT = 50_000  # MlflowClient.search_runs answers at most this many runs per call
_SORT = re.compile(r"^(attributes|params|metrics|tags)\.(`[^`]+`|[^\s`]+)\s+(ASC|DESC)$", re.IGNORECASE)


def parse_sort(order_by: str | None) -> tuple[str, str, bool] | None:
    """``"metrics.`val loss` DESC"`` → ("metrics", "val loss", False); a UsageError naming the form."""
    if order_by is None or order_by == "":
        return None
    match = _SORT.match(_text("order_by", order_by, 500).strip())
    if not match:
        raise UsageError(
            f"order_by={order_by[:80]!r} is not a sort clause.",
            hint="Write <attributes|params|metrics|tags>.<key> ASC|DESC, e.g. metrics.`val loss` DESC.",
        )
    kind, key, direction = match.group(1).lower(), match.group(2).strip("`"), match.group(3).upper()
    if kind == "attributes" and key not in mlflow_internals.SORT_FIELDS:
        raise UsageError(
            f"attributes.{key} is not a sortable attribute.",
            hint=f"Use one of {', '.join(sorted(mlflow_internals.SORT_FIELDS))}.",
        )
    return kind, key, direction == "ASC"


def _offset(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OFFSET:
        raise UsageError(
            f"offset={value!r} is out of range.", hint=f"Give a whole number from 0 to {MAX_OFFSET}."
        )
    return value


def _rows_of(conn: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    """RunRows of `run_ids` (in that order), read in bulk."""
    runs = mlflow_internals.runs(conn, run_ids)
    params = mlflow_internals.key_values(conn, "params", run_ids)
    tags = mlflow_internals.key_values(conn, "tags", run_ids)
    metrics = mlflow_internals.latest_metrics(conn, run_ids)
    children = mlflow_internals.child_counts(conn, run_ids)
    table = []
    for run_id in run_ids:
        experiment, name, status, start, end = runs[run_id]
        table.append(
            rows.row(
                run_id,
                experiment_id=experiment,
                name=name,
                status=status,
                start=start,
                end=end,
                params=params[run_id],
                metrics=metrics[run_id],
                tags=tags[run_id],
                child_count=children.get(run_id, 0),
            )
        )
    return table


def _columns(conn: Any, experiment_id: str) -> dict[str, Any]:
    """Every param, metric and user tag key of the experiment's runs (a key no run has is no column), each
    param and metric classified (explore.columns) from the SAMPLE most recent runs that have it, or by its
    name alone, and the default columns."""
    params = mlflow_internals.experiment_keys(conn, experiment_id, "params")
    metrics = mlflow_internals.experiment_keys(conn, experiment_id, "latest_metrics")
    tags = mlflow_internals.experiment_keys(conn, experiment_id, "tags")
    recent, _ = mlflow_internals.run_page(conn, experiment_id, sort=None, offset=0, limit=SAMPLE)
    run_params = mlflow_internals.key_values(conn, "params", recent)
    run_tags = mlflow_internals.key_values(conn, "tags", recent)
    run_metrics = mlflow_internals.latest_metrics(conn, recent)
    param_kinds = columns.merge(columns.classify_params(run_params[r], run_tags[r]) for r in recent)
    metric_kinds = columns.merge(columns.classify_metrics(run_metrics[r], run_tags[r]) for r in recent)
    param_kinds.update(columns.classify_params(dict.fromkeys(set(params) - set(param_kinds)), {}))
    metric_kinds.update(columns.classify_metrics(set(metrics) - set(metric_kinds), {}))
    return {
        "params": sorted(params),
        "metrics": sorted(metrics),
        "tags": sorted(rows.user_tags(dict.fromkeys(tags, ""))),
        "kinds": {"params": param_kinds, "metrics": metric_kinds},
        "defaults": columns.default_columns(param_kinds, metric_kinds),
    }


def _page_columns(found: list[Any]) -> dict[str, Any]:
    """The columns of a page read from a tracking server: the keys of its runs, classified."""
    param_kinds = columns.merge(columns.classify_params(r.data.params, r.data.tags) for r in found)
    metric_kinds = columns.merge(columns.classify_metrics(r.data.metrics, r.data.tags) for r in found)
    return {
        "params": sorted(param_kinds),
        "metrics": sorted(metric_kinds),
        "tags": sorted({key for r in found for key in rows.user_tags(r.data.tags)}),
        "kinds": {"params": param_kinds, "metrics": metric_kinds},
        "defaults": columns.default_columns(param_kinds, metric_kinds),
    }


def _search(
    client: Any,
    experiment_id: str,
    clauses: list[str],
    order_by: str | None,
    *,
    offset: int,
    limit: int,
    top_level: bool,
) -> tuple[list[Any], int | None, dict[str, int] | None]:
    """One page through MLflow's search (filters, tracking servers), the total when known, and with
    `top_level` (which reads every run) each page run's number of children."""
    wanted = offset + limit
    if wanted > SEARCH_LIMIT:
        raise UsageError(
            f"offset {offset} is beyond the {SEARCH_LIMIT} runs a filtered or remote listing reaches.",
            hint="Narrow the filter.",
        )
    with checks.translated(f"the runs of experiment {experiment_id}"):
        found = client.search_runs(
            [experiment_id],
            filter_string=" and ".join(clauses),
            max_results=SEARCH_LIMIT if top_level else wanted,
            order_by=[order_by] if order_by else None,
        )
        if not found:
            client.get_experiment(experiment_id)  # an empty answer: is the experiment there?
    counts = None
    if top_level:
        counts = dict(Counter(run.data.tags.get(records.PARENT_RUN_ID) for run in found))
        listed = {run.info.run_id for run in found}
        found = [run for run in found if run.data.tags.get(records.PARENT_RUN_ID) not in listed]
    total = len(found) if top_level or len(found) < wanted else None
    return list(found[offset:wanted]), total, counts


def runs_table(
    experiment_id: str,
    *,
    offset: int = 0,
    max_results: int = 100,
    order_by: str | None = None,
    status: str | None = None,
    filter_string: str | None = None,
    top_level: bool = False,
    parent: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Rows `offset` … `offset + max_results` of an experiment's runs, with the total and the columns.

    `top_level` lists only runs without a parent (pipelines, sweeps, notebook runs) and `parent` the
    children of one run; a `filter_string` lists matching runs flat. ``total_count`` is null when unknown.
    """
    experiment_id = checks.experiment_id(experiment_id)
    offset, max_results = _offset(offset), _max_results(max_results)
    sort = parse_sort(order_by)
    if status is not None and status not in STATUSES:
        raise UsageError(f"status={status!r} is not a run status.", hint=f"Use one of {', '.join(STATUSES)}.")
    if parent is not None:
        parent = checks.run_id(parent)
    filter_string = _text("filter", filter_string, 4000).strip() if filter_string else ""
    settings = store.ensure_store(settings)
    answer: dict[str, Any] = {"experiment_id": experiment_id, "offset": offset, "next_page_token": None}
    if settings.embedded and not filter_string:
        with mlflow_internals.connect(settings) as conn:
            if not mlflow_internals.experiment_exists(conn, experiment_id):
                with checks.translated(f"experiment {experiment_id}"):
                    store.client(settings).get_experiment(experiment_id)
            run_ids, total = mlflow_internals.run_page(
                conn,
                experiment_id,
                sort=sort,
                offset=offset,
                limit=max_results,
                parent=parent,
                top_level=top_level and parent is None,
                status=None if status in (None, "SCHEDULED") else status,
                tagged=records.TAG_TRIGGER if status == "SCHEDULED" else None,
            )
            answer.update(
                runs=_rows_of(conn, run_ids), total_count=total, columns=_columns(conn, experiment_id)
            )
        return answer
    if sort is not None and sort[:2] == ("attributes", "duration"):
        raise UsageError(
            "Sorting by duration is not available with a filter or on a tracking server (MLflow's search "
            "has no duration).",
            hint="Sort by start_time or end_time, or clear the filter.",
        )
    clauses = [filter_string] if filter_string else []
    if status == "SCHEDULED":
        clauses.append(f"tags.`{records.TAG_TRIGGER}` LIKE '%'")
    elif status is not None:
        clauses.append(f"attributes.status = '{status}'")
    if parent is not None:
        clauses.append(f"tags.`{records.PARENT_RUN_ID}` = '{parent}'")
    client = store.client(settings)
    flat = bool(filter_string) or parent is not None
    found, total, counts = _search(
        client,
        experiment_id,
        clauses,
        order_by,
        offset=offset,
        limit=max_results,
        top_level=top_level and not flat,
    )
    table = [rows.from_run(run) for run in found]
    if settings.embedded:
        with mlflow_internals.connect(settings) as conn:
            counts = mlflow_internals.child_counts(conn, [r["run_id"] for r in table])
            columns_found = _columns(conn, experiment_id)
        for row in table:
            row["child_count"] = counts.get(row["run_id"], 0)
    else:
        columns_found = _page_columns(found)
        for row in table:
            row["child_count"] = None if counts is None else counts.get(row["run_id"], 0)
    answer.update(runs=table, total_count=total, columns=columns_found)
    return answer
