"""The A/B report: each answering arm's mean reward with a confidence interval, and whether it differs
significantly from the control arm (Welch's t-test), from the inference log joined with the feedback."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlops_nb import records
from mlops_nb.exceptions import NotFoundError
from mlops_nb.serving.feedback import FeedbackStore
from mlops_nb.serving.log_reader import read_table
from mlops_nb.serving.options import model_folder
from mlops_nb.serving.routing import MAIN, SHADOW


def report(
    model: str,
    *,
    log_dir: str | Path | None = None,
    feedback_dir: str | Path | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Per arm (variant and alias): requests, rewarded requests, mean reward and its interval; per
    non-control arm the difference to the control, its p-value and whether it is significant."""
    from scipy import stats

    log_dir = log_dir or model_folder(records.STATE_INFERENCE_DIR, model)
    feedback_dir = feedback_dir or model_folder(records.STATE_FEEDBACK_DIR, model)
    table = read_table(log_dir, columns=["request_id", "row", "variant", "alias", "model_version", "status"])
    if table is None:
        raise NotFoundError(
            f"No inference log for {model} in {log_dir}.", hint="Serve it with `mlops-nb serve`."
        )
    requests = table.to_pandas()
    requests = requests[
        (requests["row"] == 0) & (requests["status"] == "ok") & (requests["variant"] != SHADOW)
    ]
    requests = requests.drop_duplicates("request_id", keep="last")
    rewards = FeedbackStore(feedback_dir).read()
    rewards = rewards[rewards["reward"].notna()].groupby("request_id")["reward"].mean()
    joined = requests.join(rewards, on="request_id", how="inner")
    arms = []
    for (variant, alias), group in requests.groupby(["variant", "alias"], sort=False):
        values = joined[(joined["variant"] == variant) & (joined["alias"] == alias)]["reward"].to_numpy()
        arms.append({
            "variant": variant,
            "alias": alias,
            "versions": sorted(set(group["model_version"])),
            "requests": len(group),
            "rewarded": int(values.size),
            "mean": float(values.mean()) if values.size else None,
            "interval": _interval(values, confidence, stats),
            "_values": values,
        })  # fmt: skip
    if not arms:
        raise NotFoundError(f"The inference log of {model} holds no answered requests.")
    control = next((arm for arm in arms if arm["variant"] == MAIN), arms[0])
    for arm in arms:
        arm["control"] = arm is control
        if arm is control:
            continue
        a, b = arm["_values"], control["_values"]
        if a.size < 2 or b.size < 2:
            arm.update(difference=None, p_value=None, significant=False)
            continue
        test = stats.ttest_ind(a, b, equal_var=False)
        p_value = float(test.pvalue) if math.isfinite(test.pvalue) else 1.0
        arm.update(
            difference=float(a.mean() - b.mean()), p_value=p_value, significant=p_value < 1 - confidence
        )
    for arm in arms:
        arm.pop("_values")
    return {"model": model, "confidence": confidence, "arms": arms}


def _interval(values: Any, confidence: float, stats: Any) -> list[float] | None:
    if values.size < 2:
        return None
    mean, error = float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * error
    return [mean - half, mean + half]


def render(found: dict[str, Any]) -> str:
    """The report as a table."""
    level = f"{found['confidence']:.0%}"
    lines = [f"A/B report for {found['model']} ({level} intervals, Welch's t-test against the control)", ""]
    lines.append(
        f"{'arm':<24}{'versions':<10}{'requests':>9}{'rewarded':>9}{'mean':>9}  {'interval':<20}verdict"
    )
    for arm in found["arms"]:
        interval = arm["interval"]
        shown = f"[{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "-"
        mean = f"{arm['mean']:.4f}" if arm["mean"] is not None else "-"
        if arm["control"]:
            verdict = "control"
        elif arm.get("p_value") is None:
            verdict = "too few rewards"
        else:
            word = "SIGNIFICANT" if arm["significant"] else "not significant"
            verdict = f"{word}: {arm['difference']:+.4f} (p={arm['p_value']:.3g})"
        name = f"{arm['variant']}:{arm['alias']}"
        versions = ",".join(arm["versions"])
        lines.append(
            f"{name:<24}{versions:<10}{arm['requests']:>9}{arm['rewarded']:>9}{mean:>9}  {shown:<20}{verdict}"
        )
    return "\n".join(lines)
