"""Experiments of the project's store, with run counts."""

from __future__ import annotations

from typing import Any

from mlops_nb import mlflow_internals, store
from mlops_nb.config import Settings
from mlops_nb.explore import checks, links


def list_experiments(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Active experiments with their run counts, most recently updated first."""
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated("the experiment list"):
        experiments = []
        token = None
        while True:
            page = client.search_experiments(max_results=1000, page_token=token)
            experiments.extend(page)
            token = page.token
            if not token:
                break
        counts = _counts(settings, client, [e.experiment_id for e in experiments])
    listed = []
    for exp in experiments:
        count, running, latest = counts.get(str(exp.experiment_id), (0, 0, None))
        listed.append(
            {
                "experiment_id": str(exp.experiment_id),
                "name": exp.name,
                "artifact_location": exp.artifact_location,
                "run_count": count,
                "active_run_count": running,
                "creation_time": exp.creation_time,
                "last_update_time": exp.last_update_time,
                "last_run_start_time": latest,
                "tags": dict(exp.tags),
                "ui_url": links.experiment_url(settings, str(exp.experiment_id)),
            }
        )
    listed.sort(key=lambda e: max(e["last_update_time"] or 0, e["last_run_start_time"] or 0), reverse=True)
    return listed


Counts = dict[str, tuple[int, int, int | None]]


def _counts(settings: Settings, client: Any, experiment_ids: list[str]) -> Counts:
    if settings.embedded:
        with mlflow_internals.connect(settings) as conn:
            return mlflow_internals.experiment_counts(conn)
    counts: Counts = {}
    for exp_id in experiment_ids:
        total = running = 0
        latest: int | None = None
        token = None
        while True:
            page = client.search_runs([exp_id], max_results=50000, page_token=token)
            for run in page:
                total += 1
                running += run.info.status == "RUNNING"
                latest = max(latest or 0, run.info.start_time or 0)
            token = page.token
            if not token:
                break
        counts[str(exp_id)] = (total, running, latest)
    return counts
