"""A served version's monitoring for the panel's Monitoring view: its monitoring passes (newest first), the
latest pass's verdicts and numbers (drift per feature over time, live metric against its evaluation value,
health, traffic and A/B outcomes), and the drift / decay triggers its passes raised, each with the
retraining run it started. Shape as in ``api/openapi.yaml`` (MonitoringView)."""

from __future__ import annotations

import contextlib
from typing import Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.explore import checks
from mlops_nb.explore.models import model_name, version_number

_PASSES = 20


def monitoring_view(name: str, version: str, settings: Settings | None = None) -> dict[str, Any]:
    """The Monitoring view of version `version` of `name` (``latest`` is None before the first pass)."""
    from mlops_nb.pipelines.reference import load_json

    name, version = model_name(name), version_number(version)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"model {name!r} version {version}"):
        client.get_model_version(name, version)
    experiment = client.get_experiment_by_name(records.MONITORING_EXPERIMENT)
    runs = []
    if experiment is not None:
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`{records.TAG_MONITOR_MODEL}` = '{_quoted(name)}' and "
            f"tags.`{records.TAG_MONITOR_VERSION}` = '{version}' and attributes.status = 'FINISHED'",
            max_results=_PASSES,
            order_by=["attributes.start_time DESC"],
        )
    passes = [
        {
            "run_id": run.info.run_id,
            "start_time": run.info.start_time,
            "verdict": run.data.tags.get(records.TAG_MONITOR_VERDICT, ""),
            "window": run.data.tags.get(records.TAG_MONITOR_WINDOW, ""),
        }
        for run in runs
    ]
    latest = None
    if runs:
        with contextlib.suppress(Exception):  # artifacts deleted: the list still shows
            latest = load_json(client, runs[0].info.run_id, records.ARTIFACT_MONITOR_RESULT)
    return {
        "name": name,
        "version": version,
        "passes": passes,
        "latest": latest,
        "triggers": _triggers({p["run_id"] for p in passes}, settings),
    }


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")


def _triggers(run_ids: set[str], settings: Settings) -> list[dict[str, Any]]:
    """The drift and decay firings raised by these monitoring runs, newest first, with their runs."""
    from mlops_nb.scheduling import schedules

    found = []
    for schedule in schedules.list_schedules(settings):
        if schedule.kind not in ("drift", "decay"):
            continue
        for firing in schedules.history(schedule.id, limit=200, settings=settings):
            evidence = firing.get("evidence") or {}
            if isinstance(evidence, dict) and evidence.get("monitoring_run_id") in run_ids:
                found.append(
                    {
                        "kind": firing["kind"],
                        "fire_time": firing["fire_time"],
                        "state": firing["state"],
                        "run_id": firing["run_id"],
                        "reason": firing["reason"],
                        "monitoring_run_id": evidence["monitoring_run_id"],
                        "pipeline": schedule.pipeline,
                        "env": schedule.env,
                    }
                )
    return sorted(found, key=lambda item: item["fire_time"] or "", reverse=True)
