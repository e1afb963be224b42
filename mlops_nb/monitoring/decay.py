"""Decay: the live metric from fed-back labels (joined to the logged predictions by request id and row)
against the version's evaluation metric, with a confidence interval.

Decay is flagged when the whole interval lies on the wrong side of the threshold: below it when greater
is better (above it for errors such as rmse). The threshold is ``monitoring.decay_threshold``, else the
pipeline's ``gates.model`` threshold of its metric, else the evaluation value minus (plus)
``decay_tolerance``. Accuracy's interval is Wilson's; other metrics' a seeded bootstrap.
"""

from __future__ import annotations

import math
from typing import Any

from mlops_nb.monitoring.drift import INSUFFICIENT, NOT_COMPUTED, OK, verdict
from mlops_nb.monitoring.served import Served

DECAY = "decay"
BOOTSTRAP = 200


def join(predictions: Any, labels: Any) -> Any:
    """Logged rows with their true label and reward: feedback given for a row applies to that row, feedback
    without a row to every row of its request (a row's own label or reward wins). `predictions`:
    request_id, row, prediction, bucket; `labels`: request_id, row, label, reward (one per request and row)."""
    import pandas as pd

    if predictions.empty or labels.empty:
        return pd.DataFrame({"prediction": [], "label": [], "reward": [], "bucket": [], "model_version": []})
    answer = [c for c in ("request_id", "row", "model_version", "variant") if c in predictions]
    predictions = predictions.drop_duplicates(answer).astype({"row": "int64"})  # a shadow's answer is its own
    per_row = labels[labels["row"].notna()].astype({"row": "int64"})
    whole = labels[labels["row"].isna()].drop(columns=["row"])
    own = predictions.merge(per_row, on=["request_id", "row"], how="left")
    request = predictions.merge(whole, on="request_id", how="left")
    joined = own.assign(
        label=own["label"].where(own["label"].notna(), request["label"]).astype(object),
        reward=own["reward"].where(own["reward"].notna(), request["reward"]),
    )
    joined["label"] = joined["label"].where(joined["label"].notna(), None)
    return joined[joined["label"].notna() | joined["reward"].notna()].reset_index(drop=True)


def _number(value: Any) -> bool:
    """Whether a regression label or prediction is a finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _same(value: Any) -> str:
    """A class label as comparable text: 1, 1.0 and "1" are one class."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def score(task: str, metric: str, labels: list[Any], predictions: list[Any]) -> float | None:
    """The live value of `metric` (``test_<name>``), None when it cannot be computed from labels alone."""
    from mlops_nb.pipelines.evaluation import scores

    if task == "regression":
        try:
            truth, guess = [float(x) for x in labels], [float(x) for x in predictions]
        except (TypeError, ValueError):
            return None
    else:
        truth, guess = [_same(x) for x in labels], [_same(x) for x in predictions]
    return scores(task, truth, guess, None).get(metric.removeprefix("test_").split(".")[0])


def interval(
    task: str, metric: str, labels: list[Any], predictions: list[Any], confidence: float
) -> tuple[float, float]:
    """The `confidence` interval of the live metric."""
    import numpy as np

    name = metric.removeprefix("test_").split(".")[0]
    n = len(labels)
    if task == "classification" and name == "accuracy":
        hits = sum(_same(a) == _same(b) for a, b in zip(labels, predictions, strict=True))
        return _wilson(hits, n, confidence)
    rng = np.random.default_rng(0)
    values = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, n, size=n)
        value = score(task, metric, [labels[i] for i in pick], [predictions[i] for i in pick])
        if value is not None and math.isfinite(value):
            values.append(value)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def _wilson(hits: int, n: int, confidence: float) -> tuple[float, float]:
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def threshold(info: Served) -> float | None:
    """The live metric's floor (ceiling when lower is better)."""
    t = info.thresholds
    if t.decay_threshold is not None:
        return t.decay_threshold
    if info.gate_threshold is not None:
        return info.gate_threshold
    if info.evaluation is None:
        return None
    return (
        info.evaluation - t.decay_tolerance if info.greater_is_better else info.evaluation + t.decay_tolerance
    )


def decay(info: Served, joined: Any, buckets: int) -> dict[str, Any]:
    """The decay check of a window: its verdict, the live metric with its interval, and per time bucket."""
    if not info.metric or not info.task:
        return verdict(NOT_COMPUTED, "no pipeline file: the metric and task are unknown", n=0)
    limit, t = threshold(info), info.thresholds
    joined = joined[joined["label"].notna()] if len(joined) else joined
    unusable = 0
    if info.task == "regression" and len(joined):  # a label such as "n/a" must not void the metric
        usable = [
            _number(a) and _number(b) for a, b in zip(joined["label"], joined["prediction"], strict=True)
        ]
        unusable = len(usable) - sum(usable)
        joined = joined[usable]
    labels, predictions = list(joined["label"]), list(joined["prediction"])
    numbers: dict[str, Any] = {
        "metric": info.metric,
        "n": len(labels),
        "unusable_labels": unusable,
        "evaluation": info.evaluation,
        "threshold": limit,
        "min_labels": t.decay_min_labels,
        "greater_is_better": info.greater_is_better,
    }
    over_time = []
    for bucket in range(buckets):
        chosen = joined[joined["bucket"] == bucket]
        enough = len(chosen) >= t.decay_min_labels
        over_time.append(
            score(info.task, info.metric, list(chosen["label"]), list(chosen["prediction"]))
            if enough
            else None
        )
    numbers["live_over_time"] = over_time
    if len(labels) < t.decay_min_labels:
        return verdict(
            INSUFFICIENT, f"{len(labels)} labelled rows, fewer than {t.decay_min_labels}", **numbers
        )
    live = score(info.task, info.metric, labels, predictions)
    if live is None or limit is None:
        why = (
            "no threshold: no evaluation value"
            if live is not None
            else f"{info.metric} needs more than labels"
        )
        return verdict(NOT_COMPUTED, why, **numbers)
    low, high = interval(info.task, info.metric, labels, predictions, t.decay_confidence)
    numbers.update(live=live, low=low, high=high, confidence=t.decay_confidence)
    decayed = high < limit if info.greater_is_better else low > limit
    side = "below" if info.greater_is_better else "above"
    text = f"live {info.metric} {live:.4g}, {t.decay_confidence:.0%} interval [{low:.4g}, {high:.4g}]"
    if decayed:
        return verdict(DECAY, f"{text} lies {side} the threshold {limit:.4g}", **numbers)
    return verdict(OK, f"{text}; threshold {limit:.4g}", **numbers)
