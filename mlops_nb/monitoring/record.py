"""A pass recorded as an MLflow run linked to the model version it judged (metrics, verdicts as tags, the
report and result as artifacts), and the ``drift`` / ``decay`` triggers it raises, once per cooldown, so
the scheduler starts a retraining run of the environment's release carrying the evidence."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from mlops_nb import config, records, store
from mlops_nb.monitoring import report
from mlops_nb.monitoring.decay import DECAY
from mlops_nb.monitoring.drift import DRIFT
from mlops_nb.monitoring.served import Served


def _name(text: str) -> str:
    """`text` with the characters MLflow refuses in metric and tag names replaced."""
    return re.sub(r"[^\w.\- /:]", "_", text)[:200]


def metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The pass's numbers as MLflow metrics."""
    found: dict[str, float] = {}
    for feature, r in result["features"].items():
        for key in ("psi", "effect_size", "p_value"):
            if isinstance(r.get(key), int | float):
                found[f"drift.{_name(feature)}.{key}"] = float(r[key])
    for key in ("psi", "effect_size"):
        if isinstance(result["prediction"].get(key), int | float):
            found[f"prediction.{key}"] = float(result["prediction"][key])
    for key in ("live", "low", "high"):
        if isinstance(result["decay"].get(key), int | float):
            found[f"decay.{key}"] = float(result["decay"][key])
    health = result["health"]
    for key in ("ood_rate", "error_rate", "requests"):
        if isinstance(health.get(key), int | float):
            found[f"health.{key}"] = float(health[key])
    for key, value in (health.get("latency_ms") or {}).items():
        if value is not None:
            found[f"health.latency_{key}_ms"] = float(value)
    return {k: v for k, v in found.items() if math.isfinite(v)}


def evidence(result: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """What a retraining run carries: the monitoring run, the drifting features with their scores, the live metric."""
    drifting = {
        name: {k: r.get(k) for k in ("psi", "effect_size", "effect", "p_value")}
        for name, r in result["features"].items()
        if r["verdict"] == DRIFT
    }
    if result["prediction"]["verdict"] == DRIFT:
        drifting["(prediction)"] = {k: result["prediction"].get(k) for k in ("psi", "effect_size", "p_value")}
    decay = result["decay"]
    return {
        "monitoring_run_id": run_id,
        "model": result["model"],
        "version": result["version"],
        "drifting": drifting,
        "live_metric": {
            k: decay.get(k) for k in ("metric", "live", "low", "high", "threshold", "evaluation", "n")
        },
    }


def raise_triggers(
    result: Mapping[str, Any], info: Served, run_id: str, settings: config.Settings | None
) -> list[dict[str, Any]]:
    """Raise ``decay`` when the live metric decayed, else ``drift`` when a feature or the prediction drifted,
    at most once per cooldown: one pass starts at most one retraining run (the evidence of a ``decay``
    trigger names the drifting features too); returns what was raised or why not."""
    from mlops_nb.exceptions import MlopsError
    from mlops_nb.scheduling import schedules

    drifted = any(r["verdict"] == DRIFT for r in [*result["features"].values(), result["prediction"]])
    decayed = result["decay"]["verdict"] == DECAY
    kinds = [DECAY] if decayed else [DRIFT] if drifted else []
    outcomes = []
    if decayed and drifted:
        outcomes.append(
            {
                "kind": DRIFT,
                "skipped": "the decay trigger of this pass answers it (its evidence names the drift)",
            }
        )
    for kind in kinds:
        if not info.pipeline or not info.env:
            missing = "pipeline" if not info.pipeline else "environment"
            outcomes.append(
                {"kind": kind, "skipped": f"the version's {missing} is unknown: no retraining to start"}
            )
            continue
        try:
            firing = schedules.raise_trigger(
                info.pipeline,
                info.env,
                kind,
                evidence(result, run_id),
                settings,
                cooldown=info.thresholds.cooldown_seconds,
            )
        except MlopsError as exc:
            outcomes.append({"kind": kind, "skipped": str(exc)})
            continue
        if firing is None:
            outcomes.append(
                {"kind": kind, "skipped": f"raised within the cooldown of {info.thresholds.cooldown}"}
            )
        else:
            outcomes.append({"kind": kind, "firing": firing, "pipeline": info.pipeline, "env": info.env})
    return outcomes


def record(
    result: dict[str, Any],
    info: Served,
    *,
    tags: Mapping[str, str] | None = None,
    settings: config.Settings | None = None,
) -> str:
    """Record the pass as a FINISHED run of the monitoring experiment, raise its triggers (their outcome
    goes into `result["triggers"]`), and point the version at it; returns the run id."""
    import json

    client = store.client(settings)
    writer = store.Writer(client)
    experiment = store.experiment_id(records.MONITORING_EXPERIMENT, settings)
    run = writer.create_run(
        experiment,
        {
            records.RUN_NAME: f"monitor {info.model}@{info.alias} v{info.version}",
            records.TAG_MONITOR_MODEL: info.model,
            records.TAG_MONITOR_VERSION: info.version,
            records.TAG_MONITOR_ALIAS: info.alias,
            records.TAG_MONITOR_WINDOW: result["window"],
            **(tags or {}),
        },
    )
    run_id = run.info.run_id
    try:
        writer.log_metrics(run_id, metrics(result))
        verdicts = {
            records.TAG_MONITOR_CHECK_PREFIX + _name(f"feature.{name}"): r["verdict"]
            for name, r in result["features"].items()
        }
        for check in ("prediction", "decay", "health"):
            verdicts[records.TAG_MONITOR_CHECK_PREFIX + check] = result[check]["verdict"]
        writer.set_tags(run_id, {records.TAG_MONITOR_VERDICT: result["verdict"], **verdicts})
        result["run_id"] = run_id
        result["triggers"] = raise_triggers(result, info, run_id, settings)
        writer.set_tags(run_id, {records.TAG_MONITOR_TRIGGERS: json.dumps(result["triggers"])})
        writer.log_dict(run_id, result, records.ARTIFACT_MONITOR_RESULT)
        writer.log_text(run_id, report.render(result), records.ARTIFACT_MONITOR_REPORT)
        writer.set_version_tags(info.model, info.version, {records.TAG_MV_MONITOR_RUN: run_id})
    except BaseException as exc:
        writer.fail_run(run_id, f"{type(exc).__name__}: {exc}")
        raise
    writer.end_run(run_id, "FINISHED")
    return run_id
