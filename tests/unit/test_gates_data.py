"""Data gate: real pandas data profiled in the split format, compared against a reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mlops_nb.capture.profile import profile as split_profile
from mlops_nb.exceptions import ConfigError, UsageError
from mlops_nb.gates import stats
from mlops_nb.gates.data import (
    KS,
    MISSING_COLUMN,
    MISSING_RATE,
    NEW_COLUMN,
    PSI,
    RANGE,
    ROWS,
    TYPE,
    UNSEEN,
    DataThresholds,
    validate_data,
)


def profile(data: pd.DataFrame, name: str = "train") -> dict:
    return split_profile(data, name=name, context="training")


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows).round(1),
            "income": rng.lognormal(10, 0.5, rows),
            "visits": rng.poisson(3, rows),
            "city": rng.choice(["paris", "lyon", "lille", "nice"], rows, p=[0.4, 0.3, 0.2, 0.1]),
            "member": rng.random(rows) < 0.3,
            "signed_up": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict:
    return profile(frame(4000, seed=1))


def checks_of(report, column, check):
    return [item for item in report.checks if item.column == column and item.check == check]


def only(report, column, check):
    (found,) = checks_of(report, column, check)
    return found


def test_same_distribution_passes(reference):
    report = validate_data(profile(frame(3000, seed=2)), reference)
    assert report.passed, report.to_table(failures_only=True)
    assert only(report, "age", PSI).value < 0.05
    assert only(report, "age", KS).value < 0.05
    assert only(report, "city", PSI).verdict == "pass"
    assert only(report, None, ROWS).verdict == "pass"


def test_small_batch_of_same_distribution_is_not_failed_for_noise(reference):
    report = validate_data(profile(frame(60, seed=3)), reference)
    assert report.passed, report.to_table(failures_only=True)


def test_dropped_column_fails(reference):
    report = validate_data(profile(frame(2000, seed=4).drop(columns=["income"])), reference)
    assert not report.passed
    failure = only(report, "income", MISSING_COLUMN)
    assert failure.verdict == "fail"
    assert "'income' is missing" in failure.message
    assert "'income' is missing" in report.summary()
    assert [item.column for item in report.failures] == ["income"]


def test_new_column_fails_unless_ignored(reference):
    data = frame(2000, seed=5).assign(score=1.0)
    assert only(validate_data(profile(data), reference), "score", NEW_COLUMN).verdict == "fail"
    assert validate_data(profile(data), reference, DataThresholds(ignore_columns=("score",))).passed


def test_a_source_column_the_training_split_leaves_out_is_not_new(reference):
    data = frame(2000, seed=5).assign(customer_id=range(2000), score=1.0)
    report = validate_data(profile(data), reference, source_columns=[*reference["columns"], "customer_id"])
    assert only(report, "customer_id", NEW_COLUMN).verdict == "skip"  # the notebook never logged it
    assert only(report, "score", NEW_COLUMN).verdict == "fail"  # new to the source itself


def test_retyped_column_fails(reference):
    data = frame(2000, seed=6)
    data["age"] = data["age"].astype(str)
    report = validate_data(profile(data), reference)
    failure = only(report, "age", TYPE)
    assert failure.verdict == "fail"
    assert "numeric (float64) in the reference" in failure.message
    assert "categorical" in failure.message
    assert checks_of(report, "age", PSI) == []  # statistics of different kinds are not compared


def test_dtype_change_within_a_kind_fails_only_when_strict(reference):
    data = frame(2000, seed=7)
    data["visits"] = data["visits"].astype("float64")
    assert only(validate_data(profile(data), reference), "visits", TYPE).verdict == "pass"
    strict = validate_data(profile(data), reference, DataThresholds(strict_dtypes=True))
    failure = only(strict, "visits", TYPE)
    assert failure.verdict == "fail"
    assert "int64 to float64" in failure.message


def test_shifted_distribution_fails_psi_and_ks_with_an_effect_size(reference):
    data = frame(2000, seed=8)
    data["age"] = data["age"] + 10  # one standard deviation
    report = validate_data(profile(data), reference)
    psi, ks = only(report, "age", PSI), only(report, "age", KS)
    assert psi.verdict == ks.verdict == "fail"
    assert psi.value > 0.5
    assert 0.3 < ks.value < 0.45  # two unit-variance normals one sd apart: D = 2 * Phi(0.5) - 1 = 0.38
    assert psi.details["smd"] == pytest.approx(1.0, abs=0.1)
    assert "'age' drifted" in psi.message
    assert "standardized difference +0.9" in psi.message or "standardized difference +1.0" in psi.message
    assert {item.column for item in report.failures} == {"age"}


def test_ks_from_percentiles_matches_the_exact_statistic(reference):
    data = frame(2000, seed=9)
    data["income"] = data["income"] * 1.15
    current = profile(data)
    ks = only(validate_data(current, reference), "income", KS)
    exact = scipy_stats.ks_2samp(data["income"], frame(4000, seed=1)["income"]).statistic
    assert ks.value == pytest.approx(exact, abs=0.015)


def test_values_outside_the_known_range_fail(reference):
    data = frame(2000, seed=10)
    data.loc[:99, "age"] = 999.0  # 5% sentinel values
    report = validate_data(profile(data), reference)
    failure = only(report, "age", RANGE)
    assert failure.verdict == "fail"
    assert failure.value == pytest.approx(0.05, abs=0.01)
    assert "outside the reference range" in failure.message


def test_a_single_extreme_value_is_tolerated(reference):
    data = frame(2000, seed=11)
    data.loc[0, "age"] = 999.0
    check = only(validate_data(profile(data), reference), "age", RANGE)
    assert check.verdict == "pass"
    assert 1 / 2000 <= check.value < 0.01  # the estimate from the profile is coarse but bounded


def test_unseen_categories_beyond_the_tolerated_share_fail(reference):
    data = frame(2000, seed=12)
    data.loc[:99, "city"] = "marseille"  # 5%
    failure = only(validate_data(profile(data), reference), "city", UNSEEN)
    assert failure.verdict == "fail"
    assert failure.value == pytest.approx(0.05)
    assert "'marseille'" in failure.message
    assert failure.details["unseen"] == ["marseille"]


def test_a_few_unseen_categories_are_tolerated(reference):
    data = frame(2000, seed=13)
    data.loc[:9, "city"] = "marseille"  # 0.5%
    check = only(validate_data(profile(data), reference), "city", UNSEEN)
    assert check.verdict == "pass"
    assert check.value == pytest.approx(0.005)


def test_category_frequency_shift_fails_psi(reference):
    rng = np.random.default_rng(14)
    data = frame(2000, seed=14)
    data["city"] = rng.choice(["paris", "lyon", "lille", "nice"], 2000, p=[0.1, 0.2, 0.3, 0.4])
    failure = only(validate_data(profile(data), reference), "city", PSI)
    assert failure.verdict == "fail"
    assert failure.details["tvd"] == pytest.approx(0.4, abs=0.05)
    assert "largest move 'nice'" in failure.message or "largest move 'paris'" in failure.message


def test_boolean_share_shift_fails_psi(reference):
    data = frame(2000, seed=15)
    data["member"] = True
    assert only(validate_data(profile(data), reference), "member", PSI).verdict == "fail"


def test_missing_rate_increase_fails(reference):
    data = frame(2000, seed=16)
    data.loc[:199, "income"] = np.nan  # 10%
    data.loc[:19, "signed_up"] = pd.NaT  # 1%, within the default 5 points
    report = validate_data(profile(data), reference)
    failure = only(report, "income", MISSING_RATE)
    assert failure.verdict == "fail"
    assert failure.value == pytest.approx(0.10)
    assert "+10.0%" in failure.message
    assert only(report, "signed_up", MISSING_RATE).verdict == "pass"


def test_empty_data_fails_the_row_check(reference):
    report = validate_data(profile(frame(2000, seed=17).iloc[:0]), reference)
    assert only(report, None, ROWS).verdict == "fail"
    assert only(report, "age", RANGE).verdict == "skip"


def test_report_is_strict_json_and_a_readable_table(reference):
    data = frame(2000, seed=18).drop(columns=["visits"])
    data["age"] = data["age"] * 3
    report = validate_data(profile(data, name="batch"), reference)
    document = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert document["gate"] == "data"
    assert document["passed"] is False
    assert document["current"]["name"] == "batch"
    assert document["thresholds"]["psi"] == 0.2
    assert {"column", "check", "value", "threshold", "verdict", "message"} <= set(document["checks"][0])
    text = report.to_table()
    assert text.splitlines()[0].startswith("Data validation failed:")
    assert "verdict" in text.splitlines()[1]
    fail_lines = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert any("visits" in line and MISSING_COLUMN in line for line in fail_lines)
    assert len(report.to_table(failures_only=True).splitlines()) == 3 + len(report.failures)


def test_thresholds_from_a_pipeline_mapping():
    parsed = DataThresholds.from_dict({"psi": 0.3, "min_rows": 100, "ignore_columns": ["id"]})
    assert parsed == DataThresholds(psi=0.3, min_rows=100, ignore_columns=("id",))
    assert DataThresholds.from_dict(None) == DataThresholds()
    with pytest.raises(ConfigError, match=r"gates\.data\.pis"):
        DataThresholds.from_dict({"pis": 0.3})
    with pytest.raises(ConfigError, match=r"gates\.data\.ks. must be a number"):
        DataThresholds.from_dict({"ks": "high"})
    with pytest.raises(ConfigError, match="whole number"):
        DataThresholds.from_dict({"min_rows": 2.5})


def test_not_a_profile_is_a_usage_error(reference):
    with pytest.raises(UsageError, match="current profile is not a split profile"):
        validate_data({"rows": 3}, reference)


def test_statistics_match_scipy():
    for df in (1, 2, 5, 9, 20):
        for x in (0.1, 1.0, 7.5, 30.0):
            assert stats.chi2_sf(x, df) == pytest.approx(scipy_stats.chi2.sf(x, df), rel=1e-9, abs=1e-12)
    for x in (0.3, 0.8, 1.36, 2.0):
        assert stats.kolmogorov_sf(x) == pytest.approx(scipy_stats.kstwobign.sf(x), rel=1e-6)
    percentiles = [float(i) for i in range(101)]  # uniform on [0, 100]
    assert stats.cdf(percentiles, 25.5) == pytest.approx(0.255)
    assert stats.cdf([0.0] * 70 + [1.0] * 31, 1.0, strict=True) == pytest.approx(0.70)
