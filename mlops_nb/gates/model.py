"""Model validation: a candidate's metrics against absolute thresholds and against the champion.

The semantics are MLflow's `mlflow.models.MetricThreshold` (mlflow/models/evaluation/validation.py):
- `threshold`: the candidate must be >= it (greater_is_better) or <= it (otherwise);
- `min_absolute_change`: the candidate must be >= baseline + change (or <= baseline - change);
- `min_relative_change` (0..1): (candidate - baseline) / |baseline| >= change when greater is better,
  (baseline - candidate) / |baseline| >= change otherwise; with a baseline of 0, the candidate must
  simply beat it by 1e-10;
- a metric the candidate did not log fails; a metric the baseline lacks fails the comparisons.
One deliberate difference: with no baseline at all (no champion yet), comparisons are recorded as
"no baseline" and do not block, so the first model can be registered. Unlike MLflow, every check is
recorded (not only failures) and nothing is raised: the caller reads `report.passed`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mlops_nb.exceptions import ConfigError
from mlops_nb.gates.report import FAIL, NO_BASELINE, PASS, fmt, json_safe, table

THRESHOLD = "threshold"
MIN_ABSOLUTE_CHANGE = "min_absolute_change"
MIN_RELATIVE_CHANGE = "min_relative_change"
_KINDS = (THRESHOLD, MIN_ABSOLUTE_CHANGE, MIN_RELATIVE_CHANGE)
_ZERO_BASELINE_MARGIN = 1e-10  # MLflow's fallback for a relative change against a baseline of 0


@dataclass(frozen=True)
class MetricThreshold:
    """Limits for one metric, as MLflow's MetricThreshold (same fields, same order, same checks).

    Invalid values raise ConfigError (MLflow raises MlflowException); an int `min_relative_change`
    such as 0 or 1 is accepted where MLflow wants a float.
    """

    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool | None = None

    def __post_init__(self) -> None:
        def number(value: Any) -> bool:
            return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

        if self.threshold is not None and not number(self.threshold):
            raise ConfigError(f"`threshold` must be a number, not {self.threshold!r}.")
        if self.min_absolute_change is not None and not (
            number(self.min_absolute_change) and self.min_absolute_change > 0
        ):
            raise ConfigError(
                f"`min_absolute_change` must be a positive number, not {self.min_absolute_change!r}."
            )
        if self.min_relative_change is not None and not (
            number(self.min_relative_change) and 0 <= self.min_relative_change <= 1
        ):
            raise ConfigError(
                f"`min_relative_change` must be a number between 0 and 1, not {self.min_relative_change!r}."
            )
        if not isinstance(self.greater_is_better, bool):
            raise ConfigError(
                "`greater_is_better` must be true or false.",
                hint="Say whether a higher value of the metric is better (accuracy) or worse (log loss).",
            )
        if self.threshold is None and self.min_absolute_change is None and self.min_relative_change is None:
            raise ConfigError(
                "No threshold was specified.",
                hint="Give at least one of threshold, min_absolute_change, min_relative_change.",
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "gates.model") -> MetricThreshold:
        """A threshold from a pipeline file's mapping; errors name the key `where.<key>`."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"`{where}` must be a mapping with greater_is_better and a threshold.")
        known = (*_KINDS, "greater_is_better")
        for key in values:
            if key not in known:
                raise ConfigError(
                    f"Unknown model gate setting `{where}.{key}`.", hint=f"Known: {', '.join(known)}."
                )
        try:
            return cls(**{key: values[key] for key in known if key in values})
        except ConfigError as exc:
            raise ConfigError(f"`{where}`: {exc.message}", hint=exc.hint) from None

    @classmethod
    def coerce(cls, value: Any, *, where: str = "gates.model") -> MetricThreshold:
        """This class from itself, from mlflow.models.MetricThreshold (or alike), or from a mapping."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value, where=where)
        try:
            return cls(*(getattr(value, name, None) for name in (*_KINDS, "greater_is_better")))
        except ConfigError as exc:
            raise ConfigError(f"`{where}`: {exc.message}", hint=exc.hint) from None


@dataclass(frozen=True)
class MetricCheck:
    """One threshold of one metric: what was required, what the candidate had, and the verdict."""

    metric: str
    kind: str  # THRESHOLD | MIN_ABSOLUTE_CHANGE | MIN_RELATIVE_CHANGE
    candidate: float | None
    baseline: float | None
    threshold: float  # the configured value (a level, an absolute or a relative change)
    required: float | None  # the value the candidate had to reach (None when it cannot be known)
    greater_is_better: bool
    verdict: str  # PASS | FAIL | NO_BASELINE
    message: str


@dataclass
class ModelReport:
    """The model gate's outcome: one row per metric and threshold kind, recorded even when all pass."""

    checks: list[MetricCheck]
    has_baseline: bool

    @property
    def passed(self) -> bool:
        """True when no check failed ("no baseline" rows do not block)."""
        return not self.failures

    @property
    def failures(self) -> list[MetricCheck]:
        """The failed checks, in report order."""
        return [check for check in self.checks if check.verdict == FAIL]

    def summary(self) -> str:
        """One line: passed, or which checks failed."""
        against = "thresholds and the champion" if self.has_baseline else "thresholds (no champion yet)"
        if self.passed:
            return f"Model validation passed: {len(self.checks)} checks against {against}."
        failed = " ".join(check.message for check in self.failures)
        count = f"{len(self.failures)} of {len(self.checks)} checks"
        return f"Model validation failed: {count} against {against}. {failed}"

    def to_dict(self) -> dict[str, Any]:
        """The report as strict JSON-ready data (the gate's artifact)."""
        return json_safe(
            {
                "gate": "model",
                "passed": self.passed,
                "has_baseline": self.has_baseline,
                "summary": self.summary(),
                "checks": [asdict(check) for check in self.checks],
            }
        )

    def to_table(self) -> str:
        """A readable table (metric, check, candidate, baseline, threshold, required, verdict, message)."""
        rows = [
            (
                check.metric,
                check.kind + (" ↑" if check.greater_is_better else " ↓"),
                check.candidate,
                check.baseline,
                check.threshold,
                check.required,
                check.verdict.upper(),
                check.message,
            )
            for check in self.checks
        ]
        headers = ("metric", "check", "candidate", "champion", "threshold", "required", "verdict", "message")
        return self.summary() + "\n" + table(headers, rows)


def validate_model(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float] | None,
    thresholds: Mapping[str, Any],
) -> ModelReport:
    """Check `candidate` metrics against `thresholds` ({metric: MetricThreshold}) and `baseline`.

    `baseline` is the champion's metrics, or None when there is no champion. Thresholds may be this
    module's MetricThreshold, MLflow's, or mappings with the same keys.
    """
    checks: list[MetricCheck] = []
    for metric, given in thresholds.items():
        limits = MetricThreshold.coerce(given, where=f"gates.model.{metric}")
        for kind in _KINDS:
            if getattr(limits, kind) is not None:
                checks.append(_check(metric, kind, limits, candidate, baseline))
    return ModelReport(checks, baseline is not None)


def _value(metrics: Mapping[str, Any], metric: str) -> float | None:
    if metric not in metrics or metrics[metric] is None:
        return None
    try:
        return float(metrics[metric])
    except (TypeError, ValueError):
        return math.nan


def _check(
    metric: str,
    kind: str,
    limits: MetricThreshold,
    candidate_metrics: Mapping[str, Any],
    baseline_metrics: Mapping[str, Any] | None,
) -> MetricCheck:
    better = limits.greater_is_better
    assert isinstance(better, bool)  # validated by MetricThreshold
    level = float(getattr(limits, kind))
    candidate = _value(candidate_metrics, metric)
    baseline = None if baseline_metrics is None else _value(baseline_metrics, metric)

    def row(verdict: str, message: str, required: float | None = None) -> MetricCheck:
        return MetricCheck(metric, kind, candidate, baseline, level, required, better, verdict, message)

    if candidate is None:
        logged = ", ".join(sorted(candidate_metrics)) or "none"
        return row(FAIL, f"Metric {metric!r} was not logged by the candidate (logged: {logged}).")
    direction = ">=" if better else "<="

    def compare(required: float, against: str) -> MetricCheck:
        ok = candidate >= required if better else candidate <= required  # False for NaN, as in MLflow
        if ok:
            return row(PASS, f"Candidate {fmt(candidate)} {direction} {fmt(required)} ({against}).", required)
        failed = f"Metric {metric!r} {kind} check failed: candidate {fmt(candidate)}"
        return row(FAIL, f"{failed}, required {direction} {fmt(required)} ({against}).", required)

    if kind == THRESHOLD:
        return compare(level, f"the threshold {fmt(level)}")
    if baseline_metrics is None:
        return row(NO_BASELINE, f"No champion yet: {kind} of {metric!r} recorded, not enforced.")
    if baseline is None:
        return row(
            FAIL,
            f"Model comparison failed: the champion has no metric {metric!r}, so {kind} cannot be checked.",
        )
    sign = 1.0 if better else -1.0
    if kind == MIN_ABSOLUTE_CHANGE:
        return compare(
            baseline + sign * level, f"champion {fmt(baseline)} {'+' if better else '-'} {fmt(level)}"
        )
    if baseline == 0:
        return compare(sign * _ZERO_BASELINE_MARGIN, "the champion is 0: the candidate must beat it")
    required = baseline + sign * level * abs(baseline)
    change = sign * (candidate - baseline) / abs(baseline)
    outcome = f"an improvement of {change:+.2%} over the champion {fmt(baseline)} ({level:.2%} required)"
    if math.isnan(change) or change < level:
        return row(
            FAIL, f"Metric {metric!r} {kind} check failed: candidate {fmt(candidate)}, {outcome}.", required
        )
    return row(PASS, f"Candidate {fmt(candidate)}: {outcome}.", required)
