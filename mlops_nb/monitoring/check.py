"""One monitoring pass: the window of the inference log read once, by columns and in chunks, into the
drift, prediction drift, health and decay accumulators; the verdicts and numbers as one JSON-ready dict."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_nb import config
from mlops_nb.monitoring import decay as decay_mod
from mlops_nb.monitoring import window as window_mod
from mlops_nb.monitoring.drift import DRIFT, NOT_COMPUTED, accumulator, verdict
from mlops_nb.monitoring.health import Health
from mlops_nb.monitoring.served import Served

_HEALTH = (
    "ts",
    "row",
    "model_name",
    "model_version",
    "variant",
    "alias",
    "status",
    "latency_ms",
    "ood_count",
    "ood",
)
PREFIX = window_mod.INPUT_PREFIX


def _buckets(span: tuple[datetime, datetime] | None, count: int) -> tuple[datetime, timedelta]:
    if span is None:
        now = datetime.now(UTC)
        return now, timedelta(seconds=1)
    start, end = span
    return start, (end - start) / count + timedelta(microseconds=1)  # the last row falls in the last bucket


def run_pass(
    info: Served,
    frame: window_mod.Window,
    *,
    log_dir: str | Path | None = None,
    settings: config.Settings | None = None,
) -> dict[str, Any]:
    """Judge `info`'s version on the log window `frame`; returns the result (see ``mlops-nb monitor --json``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mlops_nb.serving.log_reader import parts, read_log

    directory = window_mod.log_directory(info.model, settings, log_dir)
    files = parts(directory)
    window_mod.require_log(files, directory, info.model)
    count = info.thresholds.buckets
    start, width = _buckets(window_mod.time_range(files, frame), count)
    logged = _logged_inputs(files)
    reference = (info.reference or {}).get("columns") or {}
    features = {name: accumulator(reference.get(name), count) for name in logged}
    prediction = accumulator(info.target_reference, count)
    health = Health(count)
    labels = window_mod.feedback(info.model, settings)
    wanted = pa.array(sorted(set(labels["request_id"])), pa.string())
    picked = []
    columns = [*_HEALTH, "request_id", "prediction", *(PREFIX + name for name in logged)]
    start_us, width_us = int(start.timestamp() * 1e6), max(int(width / timedelta(microseconds=1)), 1)
    for batch in read_log(directory, columns=columns, since=frame.since, until=frame.until):
        stamps = np.asarray(pc.cast(batch["ts"], pa.int64()).to_numpy(zero_copy_only=False))
        bucket = np.clip((stamps - start_us) // width_us, 0, count - 1)
        health.add(batch, bucket)
        answered = pc.and_(
            pc.equal(batch["model_version"], info.version), pc.equal(batch["model_name"], info.model)
        )
        mine = np.asarray(pc.fill_null(answered, False).to_numpy(zero_copy_only=False))
        ok = mine & np.asarray(
            pc.fill_null(pc.equal(batch["status"], "ok"), False).to_numpy(zero_copy_only=False)
        )
        if not ok.any():
            continue
        served = batch.filter(pa.array(ok))
        for name, acc in features.items():
            if acc is not None:
                acc.add(served[PREFIX + name], bucket[ok])
        if prediction is not None:
            prediction.add(served["prediction"], bucket[ok])
        if len(wanted):
            hit = pc.is_in(batch["request_id"], value_set=wanted)
            keep = batch.filter(pc.fill_null(hit, False))
            if keep.num_rows:
                part = keep.select(
                    ["request_id", "row", "prediction", "model_version", "variant", "alias"]
                ).to_pandas()
                part["bucket"] = bucket[np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False))]
                picked.append(part)
    t = info.thresholds
    feature_results = {
        name: acc.result(t) if acc is not None else verdict(NOT_COMPUTED, _why_not(info.reference, name), n=0)
        for name, acc in features.items()
    }
    prediction_result = (
        prediction.result(t)
        if prediction is not None
        else verdict(NOT_COMPUTED, "no statistics of the target column in the training data", n=0)
    )
    joined = _joined(picked, labels)
    mine = joined[joined["model_version"] == info.version] if len(joined) else joined
    result = {
        "model": info.model,
        "alias": info.alias,
        "version": info.version,
        "window": frame.describe(),
        "generated": datetime.now(UTC).isoformat(),
        "policy": info.policy,
        "buckets": [(start + i * width).isoformat() for i in range(count)],
        "features": feature_results,
        "prediction": prediction_result,
        "decay": decay_mod.decay(info, mine, count),
        "health": health.result(t),
        "ab": _arms(info, joined),
        "thresholds": {k: getattr(t, k) for k in t.__dataclass_fields__},
    }
    result["verdict"] = overall(result)
    return finite(result)


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as None, so the result is strict JSON of the contract's types."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def overall(result: dict[str, Any]) -> str:
    """``decay`` when the live metric decayed, else ``drift`` when a feature or the prediction drifted, else ok."""
    if result["decay"]["verdict"] == decay_mod.DECAY:
        return decay_mod.DECAY
    if any(r["verdict"] == DRIFT for r in [*result["features"].values(), result["prediction"]]):
        return DRIFT
    return "ok"


def _why_not(profile: dict[str, Any] | None, name: str) -> str:
    if not profile:
        return "the version's training run recorded no training split statistics (mlops_nb.log_split)"
    reference = (profile.get("columns") or {}).get(name)
    if reference is None:
        return "the training split has no such column"
    return f"drift of {reference.get('kind')} columns is not computed"


def _logged_inputs(files: list[Path]) -> list[str]:
    import pyarrow.parquet as pq

    names: dict[str, None] = {}
    for path in files:
        try:
            found = pq.read_schema(path).names
        except (OSError, ValueError):  # an unreadable part: read_log skips it too, with a warning
            continue
        for name in found:
            if name.startswith(PREFIX):
                names[name[len(PREFIX) :]] = None
    return list(names)


def _joined(picked: list[Any], labels: Any) -> Any:
    import pandas as pd

    rows = (
        pd.concat(picked, ignore_index=True)
        if picked
        else pd.DataFrame(
            {
                c: []
                for c in ("request_id", "row", "prediction", "model_version", "variant", "alias", "bucket")
            }
        )
    )
    return decay_mod.join(rows, labels)


def _arms(info: Served, joined: Any) -> list[dict[str, Any]]:
    """A/B (and canary, bandit) outcomes: per arm, labelled rows, live metric and mean reward."""
    arms = []
    if not len(joined):
        return arms
    for (version, variant, alias), rows in joined.groupby(["model_version", "variant", "alias"]):
        labelled = rows[rows["label"].notna()]
        live = None
        if info.task and info.metric and len(labelled):
            live = decay_mod.score(
                info.task, info.metric, list(labelled["label"]), list(labelled["prediction"])
            )
        rewards = rows["reward"].dropna() if "reward" in rows else []
        arms.append(
            {
                "version": version,
                "variant": variant,
                "alias": alias,
                "labelled": len(labelled),
                "live": live,
                "rewards": len(rewards),
                "mean_reward": float(rewards.mean()) if len(rewards) else None,
            }
        )
    return arms
