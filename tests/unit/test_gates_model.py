"""Model gate: MLflow's MetricThreshold semantics, a full table, "no baseline" before any champion."""

from __future__ import annotations

import itertools
import json
import random

import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import MetricThreshold as MlflowMetricThreshold
from mlflow.models.evaluation.validation import _validate as mlflow_validate

from mlops_nb.exceptions import ConfigError
from mlops_nb.gates.model import (
    MIN_ABSOLUTE_CHANGE,
    MIN_RELATIVE_CHANGE,
    THRESHOLD,
    MetricThreshold,
    validate_model,
)

ACCURACY = MetricThreshold(threshold=0.8, min_absolute_change=0.01, greater_is_better=True)
LOG_LOSS = MetricThreshold(threshold=0.5, min_relative_change=0.05, greater_is_better=False)


def row(report, metric, kind):
    (found,) = [check for check in report.checks if check.metric == metric and check.kind == kind]
    return found


def test_everything_passing_is_still_a_full_table():
    report = validate_model(
        {"accuracy": 0.93, "log_loss": 0.2},
        {"accuracy": 0.90, "log_loss": 0.3},
        {"accuracy": ACCURACY, "log_loss": LOG_LOSS},
    )
    assert report.passed
    assert [(check.metric, check.kind) for check in report.checks] == [
        ("accuracy", THRESHOLD),
        ("accuracy", MIN_ABSOLUTE_CHANGE),
        ("log_loss", THRESHOLD),
        ("log_loss", MIN_RELATIVE_CHANGE),
    ]
    absolute = row(report, "accuracy", MIN_ABSOLUTE_CHANGE)
    assert (absolute.candidate, absolute.baseline, absolute.threshold) == (0.93, 0.90, 0.01)
    assert absolute.required == pytest.approx(0.91)
    relative = row(report, "log_loss", MIN_RELATIVE_CHANGE)
    assert relative.required == pytest.approx(0.285)  # 0.3 - 5% of 0.3: lower is better
    assert "+33.33%" in relative.message
    table = report.to_table()
    assert table.splitlines()[0] == "Model validation passed: 4 checks against thresholds and the champion."
    assert len(table.splitlines()) == 2 + 1 + 4


def test_a_candidate_worse_than_the_champion_fails_and_says_by_how_much():
    report = validate_model({"accuracy": 0.905}, {"accuracy": 0.90}, {"accuracy": ACCURACY})
    assert not report.passed
    assert row(report, "accuracy", THRESHOLD).verdict == "pass"
    failure = row(report, "accuracy", MIN_ABSOLUTE_CHANGE)
    assert failure.verdict == "fail"
    assert failure.message == (
        "Metric 'accuracy' min_absolute_change check failed: candidate 0.905, required >= 0.91 "
        "(champion 0.9 + 0.01)."
    )
    assert failure.message in report.summary()


def test_without_a_champion_comparisons_are_recorded_but_do_not_block():
    report = validate_model(
        {"accuracy": 0.85, "log_loss": 0.4}, None, {"accuracy": ACCURACY, "log_loss": LOG_LOSS}
    )
    assert report.passed
    assert not report.has_baseline
    comparison = row(report, "accuracy", MIN_ABSOLUTE_CHANGE)
    assert comparison.verdict == "no baseline"
    assert comparison.baseline is None
    assert comparison.required is None
    assert "no champion yet" in report.summary()
    assert "NO BASELINE" in report.to_table()


def test_absolute_threshold_still_blocks_without_a_champion():
    report = validate_model({"accuracy": 0.7}, None, {"accuracy": ACCURACY})
    assert not report.passed
    assert row(report, "accuracy", THRESHOLD).message == (
        "Metric 'accuracy' threshold check failed: candidate 0.7, required >= 0.8 (the threshold 0.8)."
    )


def test_a_metric_missing_from_the_candidate_fails_clearly():
    report = validate_model({"acc": 0.9}, None, {"accuracy": ACCURACY})
    assert not report.passed
    assert {check.verdict for check in report.checks} == {"fail"}
    assert "Metric 'accuracy' was not logged by the candidate (logged: acc)." in report.summary()


def test_a_champion_without_the_metric_fails_the_comparison_as_in_mlflow():
    report = validate_model({"accuracy": 0.95}, {"f1": 0.9}, {"accuracy": ACCURACY})
    assert row(report, "accuracy", THRESHOLD).verdict == "pass"
    assert row(report, "accuracy", MIN_ABSOLUTE_CHANGE).verdict == "fail"
    assert "the champion has no metric 'accuracy'" in report.summary()


def test_relative_change_against_a_zero_or_negative_baseline():
    r2 = MetricThreshold(min_relative_change=0.1, greater_is_better=True)
    assert validate_model({"r2": 1e-9}, {"r2": 0.0}, {"r2": r2}).passed  # beats 0 by more than 1e-10
    assert not validate_model({"r2": 1e-12}, {"r2": 0.0}, {"r2": r2}).passed
    assert not validate_model({"r2": 0.0}, {"r2": 0.0}, {"r2": r2}).passed
    assert validate_model({"r2": -0.44}, {"r2": -0.5}, {"r2": r2}).passed  # +12% of |-0.5|
    assert not validate_model({"r2": -0.46}, {"r2": -0.5}, {"r2": r2}).passed


def test_nan_candidate_fails():
    assert not validate_model({"accuracy": float("nan")}, None, {"accuracy": ACCURACY}).passed


def test_report_is_strict_json():
    report = validate_model({"accuracy": float("nan")}, {"accuracy": 0.9}, {"accuracy": ACCURACY})
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["gate"] == "model"
    assert document["passed"] is False
    assert document["checks"][0]["candidate"] == "nan"
    assert set(document["checks"][0]) == {
        "metric",
        "kind",
        "candidate",
        "baseline",
        "threshold",
        "required",
        "greater_is_better",
        "verdict",
        "message",
    }


def test_thresholds_are_validated_like_mlflow():
    with pytest.raises(ConfigError, match="greater_is_better"):
        MetricThreshold(threshold=0.8)
    with pytest.raises(ConfigError, match="No threshold"):
        MetricThreshold(greater_is_better=True)
    with pytest.raises(ConfigError, match="positive"):
        MetricThreshold(min_absolute_change=0, greater_is_better=True)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        MetricThreshold(min_relative_change=1.5, greater_is_better=True)
    with pytest.raises(ConfigError, match=r"`gates\.model\.accuracy`: `threshold` must be a number"):
        MetricThreshold.from_dict(
            {"threshold": "high", "greater_is_better": True}, where="gates.model.accuracy"
        )
    with pytest.raises(ConfigError, match=r"gates\.model\.treshold"):
        MetricThreshold.from_dict({"treshold": 0.8, "greater_is_better": True})
    with pytest.raises(
        ConfigError, match=r"`gates\.model\.accuracy`: `min_absolute_change` must be a positive"
    ):
        validate_model(
            {"accuracy": 0.9}, None, {"accuracy": {"min_absolute_change": -0.02, "greater_is_better": True}}
        )
    parsed = MetricThreshold.from_dict(
        {"threshold": 0.8, "min_relative_change": 0, "greater_is_better": True}
    )
    assert parsed == MetricThreshold(0.8, None, 0, True)


def test_mlflow_thresholds_and_mappings_are_accepted():
    mlflow_threshold = MlflowMetricThreshold(threshold=0.8, min_absolute_change=0.01, greater_is_better=True)
    report = validate_model(
        {"accuracy": 0.95, "f1": 0.5},
        {"accuracy": 0.9, "f1": 0.4},
        {"accuracy": mlflow_threshold, "f1": {"threshold": 0.45, "greater_is_better": True}},
    )
    assert report.passed
    assert len(report.checks) == 3


def test_same_verdicts_as_mlflow_on_random_cases():
    rng = random.Random(7)
    values = [-1.0, -0.3, 0.0, 0.2, 0.5, 0.9, 1.0, 2.0]
    cases = 0
    for threshold, absolute, relative, better in itertools.product(
        [None, 0.5], [None, 0.1, 1.0], [None, 0.0, 0.05, 0.5], [True, False]
    ):
        if threshold is None and absolute is None and relative is None:
            continue
        ours = MetricThreshold(threshold, absolute, relative, better)
        theirs = MlflowMetricThreshold(threshold, absolute, relative, better)
        for _ in range(20):
            candidate, baseline = rng.choice(values), rng.choice(values)
            if relative == 0.0 and baseline == 0.0:
                continue  # MLflow treats min_relative_change=0.0 as unset when checking for a baseline
            report = validate_model({"m": candidate}, {"m": baseline}, {"m": ours})
            try:
                mlflow_validate({"m": theirs}, {"m": candidate}, {"m": baseline})
                mlflow_passed = True
            except MlflowException:
                mlflow_passed = False
            assert report.passed == mlflow_passed, (ours, candidate, baseline, report.to_table())
            cases += 1
    assert cases > 800
