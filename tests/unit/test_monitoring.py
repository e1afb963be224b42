"""Monitoring passes over inference logs written in the SERVING.md format: drift, insufficient data,
decay, health, and the verdict at small and very large samples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_nb.capture.profile import profile
from mlops_nb.monitoring import check, window
from mlops_nb.monitoring.served import Served
from tests.monitoring.logs import write_feedback, write_log

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _project(project: Path) -> Path:
    """Feedback lives in the project's .mlops/ folder."""
    return project


def reference_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(5.0, 2.0, size=rows),
            "color": rng.choice(["red", "green", "blue"], size=rows, p=[0.5, 0.3, 0.2]),
            "label": rng.integers(0, 2, size=rows),
        }
    )


def served(reference: pd.DataFrame, **changes: object) -> Served:
    prof = profile(reference, name="train", context="training")
    info = Served(
        "m",
        "champion",
        "1",
        None,
        prof,
        prof["columns"]["label"],
        metric="test_accuracy",
        task="classification",
        evaluation=0.9,
    )
    for key, value in changes.items():
        setattr(info, key, value)
    return info


def live(rows: int, *, shift: float = 0.0, seed: int = 2) -> pd.DataFrame:
    frame = reference_frame(rows, seed).drop(columns=["label"])
    frame["x1"] = frame["x1"] + shift
    return frame


def run(tmp_path: Path, info: Served, inputs: pd.DataFrame, predictions: object, **log: object) -> dict:
    write_log(tmp_path / "log", inputs, predictions, **log)
    return check.run_pass(info, window.window(), log_dir=tmp_path / "log")


def test_a_shifted_feature_is_flagged_and_unshifted_ones_are_not(tmp_path: Path) -> None:
    inputs = live(2000, shift=0.8)
    result = run(tmp_path, served(reference_frame(5000)), inputs, RNG.integers(0, 2, size=2000).astype(float))
    features = result["features"]
    assert features["x1"]["verdict"] == "drift", features["x1"]
    assert features["x1"]["effect_size"] > 0.5 and features["x1"]["p_value"] < 0.01
    assert features["x2"]["verdict"] == "ok", features["x2"]
    assert features["color"]["verdict"] == "ok", features["color"]
    assert result["verdict"] == "drift"
    assert len(features["x1"]["psi_over_time"]) == result["thresholds"]["buckets"]


def test_a_shifted_category_is_flagged_with_cramers_v(tmp_path: Path) -> None:
    inputs = live(2000)
    inputs["color"] = RNG.choice(["red", "green", "blue"], size=2000, p=[0.2, 0.3, 0.5])
    result = run(tmp_path, served(reference_frame(5000)), inputs, np.zeros(2000))
    color = result["features"]["color"]
    assert color["verdict"] == "drift" and color["cramers_v"] > 0.1, color


@pytest.mark.parametrize("rows", [200, 1_000_000])
def test_the_same_distribution_gives_no_drift(tmp_path: Path, rows: int) -> None:
    result = run(tmp_path, served(reference_frame(5000)), live(rows, seed=11), np.zeros(rows))
    verdicts = {name: r["verdict"] for name, r in result["features"].items()}
    assert verdicts == {"x1": "ok", "x2": "ok", "color": "ok"}, result["features"]


def test_a_negligible_shift_on_a_million_rows_is_significant_but_not_drift(tmp_path: Path) -> None:
    """The large-sample false alarm: p-values flag a shift of 2% of a standard deviation, the effect size does not."""
    rows = 1_000_000
    result = run(
        tmp_path, served(reference_frame(rows, seed=3)), live(rows, shift=0.02, seed=4), np.zeros(rows)
    )
    x1 = result["features"]["x1"]
    assert x1["p_value"] < 0.01, x1  # what a p-value alone would call drift
    assert x1["verdict"] == "ok" and x1["effect_size"] < 0.1, x1


def test_ten_rows_give_insufficient_data_with_the_minimum_stated(tmp_path: Path) -> None:
    result = run(tmp_path, served(reference_frame(5000)), live(10, shift=3.0), np.zeros(10))
    for name in ("x1", "x2", "color"):
        found = result["features"][name]
        assert found["verdict"] == "insufficient data", found
        assert found["min_rows"] == 5 * found["bins"] and str(found["min_rows"]) in found["reason"]
    assert result["decay"]["verdict"] == "insufficient data"


def test_planted_decay_is_flagged_and_correct_labels_are_not(tmp_path: Path) -> None:
    rows = 600
    predictions = RNG.integers(0, 2, size=rows)
    ids = write_log(tmp_path / "log", live(rows), predictions.astype(float))
    info = served(reference_frame(5000))
    feedback = window.feedback_directory("m")
    write_feedback(feedback, ids, [int(p) for p in predictions])  # every prediction right
    good = check.run_pass(info, window.window(), log_dir=tmp_path / "log")
    assert good["decay"]["verdict"] == "ok" and good["decay"]["live"] == 1.0, good["decay"]
    wrong = [int(p) if i % 3 else 1 - int(p) for i, p in enumerate(predictions)]  # a third wrong: ~0.67
    write_feedback(feedback, ids, wrong)
    bad = check.run_pass(info, window.window(), log_dir=tmp_path / "log")
    decay = bad["decay"]
    assert decay["verdict"] == "decay", decay
    assert (
        decay["high"] < decay["threshold"] == pytest.approx(0.85)
        and decay["low"] < decay["live"] < decay["high"]
    )
    assert bad["verdict"] == "decay"


def test_health_counts_ood_latency_errors_and_traffic(tmp_path: Path) -> None:
    rows = 400
    ood = [["x1"] if i % 10 == 0 else [] for i in range(rows)]
    write_log(tmp_path / "log", live(rows), np.zeros(rows), ood=ood, errors=10)
    write_log(
        tmp_path / "log", live(100), np.zeros(100), version="2", variant="canary", alias="challenger", part=1
    )
    result = check.run_pass(served(reference_frame(5000)), window.window(), log_dir=tmp_path / "log")
    health = result["health"]
    assert health["verdict"] == "drift" and health["ood_rate"] == pytest.approx(0.1 * 400 / 500)
    assert health["ood_columns"] == {"x1": 40}
    assert health["error_rate"] == pytest.approx(10 / 510) and health["errors_above_limit"]
    shares = {(t["version"], t["variant"]): t["share"] for t in health["traffic"]}
    assert shares == {("1", "main"): pytest.approx(410 / 510), ("2", "canary"): pytest.approx(100 / 510)}
    assert 1.0 <= health["latency_ms"]["p50"] <= health["latency_ms"]["p99"] <= 10.5


def test_the_report_has_every_section(tmp_path: Path) -> None:
    from mlops_nb.monitoring import report

    result = run(tmp_path, served(reference_frame(5000)), live(500, shift=1.0), np.zeros(500))
    html = report.render(result)
    for key, title in report.SECTIONS.items():
        assert f'<section id="{key}"><h2>{title}</h2>' in html
    assert html.count("<script") >= 4 and "Plotly.newPlot" in html  # plotly.js inlined: self-contained
    assert "<script src=" not in html and '<script type="text/javascript" src=' not in html


def test_feedback_and_monitor_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mlops-nb feedback FILE` stores labels the pass joins; bad columns are named; --json is one object."""
    from mlops_nb.cli import main

    rows = 300
    predictions = RNG.integers(0, 2, size=rows)
    folder = window.log_directory("m")
    ids = write_log(folder, live(rows), predictions.astype(float))
    pd.DataFrame({"rid": ids, "truth": 1 - predictions}).to_csv(tmp_path / "labels.csv", index=False)
    assert (
        main(["feedback", str(tmp_path / "labels.csv"), "--id-column", "rid", "--label-column", "nope"]) == 2
    )
    assert "no column 'nope' (--label-column)" in capsys.readouterr().err
    assert (
        main(["feedback", str(tmp_path / "labels.csv"), "--id-column", "rid", "--label-column", "truth"]) == 0
    )
    assert f"{rows} labels for {rows} requests of m" in capsys.readouterr().out
    result = check.run_pass(served(reference_frame(5000)), window.window())
    assert result["decay"]["live"] == 0.0 and result["decay"]["verdict"] == "decay"
    assert main(["monitor", "m", "--json", "--no-record"]) == 2  # no registered model m
    assert "models:/m@champion does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"psii": 0.1}, "Unknown monitoring setting `monitoring.psii`"),
        ({"cooldown": "soon"}, "'soon' is not a duration"),
        ({"alpha": 1.5}, "`monitoring.alpha` must lie between 0 and 1"),
        ({"min_per_bin": 0}, "whole number of at least 1"),
    ],
)
def test_monitoring_thresholds_are_checked(values: dict, message: str) -> None:
    from mlops_nb.exceptions import ConfigError
    from mlops_nb.monitoring.settings import Thresholds

    with pytest.raises(ConfigError, match=re.escape(message)):
        Thresholds.from_dict(values)
    assert Thresholds.from_dict({"psi": 0.3, "cooldown": "30m"}).cooldown_seconds == 1800


def test_an_unreadable_part_an_empty_window_and_a_retyped_column(tmp_path: Path) -> None:
    """A torn part is skipped (as read_log does), a column logged as text in one part counts as missing, and a
    window with no rows says insufficient data rather than failing."""
    info = served(reference_frame(5000))
    folder = tmp_path / "log"
    write_log(folder, live(400, shift=1.0), np.zeros(400))
    retyped = live(50).assign(x1="n/a")  # logged as text that is no number
    write_log(
        folder, retyped, np.zeros(50), part=1, start=pd.Timestamp("2026-01-02", tz="UTC").to_pydatetime()
    )
    (folder / "part-20260103T000000-9-0.parquet").write_bytes(b"PAR1 torn")
    result = check.run_pass(info, window.window(), log_dir=folder)
    assert result["features"]["x1"]["verdict"] == "drift" and result["features"]["x1"]["n"] == 400
    empty = check.run_pass(info, window.window(since="2026-06-01"), log_dir=folder)
    assert {r["verdict"] for r in empty["features"].values()} == {"insufficient data"}
    assert empty["health"]["verdict"] == "insufficient data" and empty["verdict"] == "ok"


def test_two_passes_at_once_raise_a_trigger_once(project: Path) -> None:
    """The cooldown is checked and the trigger raised in one transaction: of two processes, one raises."""
    import threading

    from mlops_nb.scheduling import schedules
    from tests.integration.pipeline_project import NOTEBOOK, Project, make_data

    (project / "nb.ipynb").write_text(NOTEBOOK.read_text())
    pipeline = Project(
        project, project / "p.yaml", make_data(project / "d.csv"), project / "nb.ipynb"
    ).write_pipeline()
    found: list[int | None] = []
    threads = [
        threading.Thread(
            target=lambda: found.append(schedules.raise_trigger(pipeline, "dev", "drift", {}, cooldown=60))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and found.count(None) == 3
