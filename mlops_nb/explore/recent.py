"""The most recent comparable runs of an experiment, with what to show of them (for ``%mlops compare``).

Comparable runs are interactive notebook runs, pipeline runs and sweep points: a pipeline's step runs and a
sweep's own run are left out (their pipeline run stands for them). Each run's params and metrics are classified
by explore/columns.py and the kinds merged over the runs; the default metric follows the same rule as the panel.
"""

from __future__ import annotations

from typing import Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.explore import checks, columns, rows

MAX_LAST = 1000
_HIDDEN_KINDS = (records.PIPELINE_KIND_STEP, records.PIPELINE_KIND_SWEEP)


def recent_runs(experiment_id: str, last: int, settings: Settings | None = None) -> dict[str, Any]:
    """The `last` most recent comparable runs (newest first) as RunRows, with merged param and metric kinds,
    the default metric and the number of comparable runs seen."""
    experiment_id = checks.experiment_id(experiment_id)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    found = []
    token = None
    with checks.translated(f"the runs of experiment {experiment_id}"):
        while len(found) < last:
            page = client.search_runs(
                [experiment_id],
                max_results=min(MAX_LAST, max(4 * last, 50)),
                order_by=["attributes.start_time DESC"],
                page_token=token,
            )
            found += [
                run for run in page if run.data.tags.get(records.TAG_PIPELINE_KIND) not in _HIDDEN_KINDS
            ]
            token = page.token
            if not token:
                break
    runs = found[:last]
    param_kinds = columns.merge(columns.classify_params(r.data.params, r.data.tags) for r in runs)
    metric_kinds = columns.merge(columns.classify_metrics(r.data.metrics, r.data.tags) for r in runs)
    return {
        "runs": [rows.from_run(run) for run in runs],
        "param_kinds": param_kinds,
        "metric_kinds": metric_kinds,
        "default_metric": columns.default_metric(metric_kinds, [dict(r.data.tags) for r in runs]),
        "more": len(found) > last or bool(token),
    }


def metric_order(metric_kinds: dict[str, str]) -> list[str]:
    """Metric names for a picker: by kind (pipeline, notebook, evaluation, ...; autolog last), then by name."""
    rank = {kind: index for index, kind in enumerate(columns.METRIC_KINDS)}
    return sorted(metric_kinds, key=lambda name: (rank[metric_kinds[name]], name))
