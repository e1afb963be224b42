"""Defects found by the monitoring audit (a new user's churn classifier, outside the repository), each with
the test that failed before its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.monitoring import record, served, window
from mlops_nb.monitoring.served import Served
from tests.monitoring.logs import write_log


def _pipeline(project: Path) -> Path:
    from tests.integration.pipeline_project import NOTEBOOK, Project, make_data

    (project / "nb.ipynb").write_text(NOTEBOOK.read_text())
    return Project(
        project, project / "p.yaml", make_data(project / "d.csv"), project / "nb.ipynb"
    ).write_pipeline()


def test_a_pass_that_drifted_and_decayed_starts_one_retraining_run(project: Path) -> None:
    """Both verdicts at once raised two triggers, so the scheduler ran the release twice for one pass."""
    from mlops_nb.scheduling import state

    info = Served("m", "champion", "1", None, None, None, pipeline=str(_pipeline(project)), env="dev")
    result = {
        "model": "m",
        "version": "1",
        "features": {"age": {"verdict": "drift", "psi": 3.0, "effect_size": 2.0, "p_value": 0.0}},
        "prediction": {"verdict": "ok"},
        "decay": {"verdict": "decay", "metric": "test_accuracy", "live": 0.4, "n": 500},
    }
    outcomes = record.raise_triggers(result, info, "run1", None)
    assert [o["kind"] for o in outcomes if "firing" in o] == ["decay"]
    assert any(o["kind"] == "drift" and "decay trigger" in o["skipped"] for o in outcomes)
    with state.transaction(None) as db:
        fired = db.execute(state.sa.select(state.firings)).fetchall()
    assert len(fired) == 1


def test_since_in_the_future_is_refused() -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with pytest.raises(UsageError, match="in the future"):
        window.window(since="2099-01-01", now=now)
    assert window.window(since="2026-11-29T12:00+01:00", now=now).since == now - timedelta(hours=13)


@pytest.mark.parametrize("version", ["99", "abc"])
def test_an_unknown_version_is_named_not_a_traceback(project: Path, version: str) -> None:
    from mlops_nb import store

    store.client().create_registered_model("m")
    with pytest.raises(NotFoundError, match=f"m has no version '{version}'"):
        served.served("m", "champion", version=version)


def test_a_reward_sent_after_a_label_neither_breaks_the_pass_nor_erases_the_label(project: Path) -> None:
    """A reward-only record (label absent: NaN in the store) made every pass fail with json's TypeError, and
    the latest record of a request won whole, so a reward erased the label given before it."""
    import numpy as np

    from mlops_nb.monitoring import check
    from mlops_nb.serving.feedback import FeedbackStore
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    rows = 100
    ids = write_log(project / "log", live(rows), np.ones(rows))
    store = FeedbackStore(window.feedback_directory("m"))
    try:
        store.append([{"request_id": i, "label": 0} for i in ids])  # every prediction wrong: decay
        store.append([{"request_id": i, "reward": 1.0} for i in ids[:10]])
        store.append([{"request_id": ids[10], "row": 0, "reward": 0.5}])  # a row's own reward
    finally:
        store.close()
    feedback = window.feedback("m")
    assert feedback["label"].notna().sum() == rows and feedback["reward"].notna().sum() == 11
    result = check.run_pass(served_info(reference_frame(2000)), window.window(), log_dir=project / "log")
    assert result["decay"]["verdict"] == "decay" and result["decay"]["n"] == rows
    (arm,) = result["ab"]
    assert arm["labelled"] == rows and arm["rewards"] == 11 and arm["mean_reward"] == (10 + 0.5) / 11


def test_missing_values_are_counted_and_a_model_without_reference_statistics_says_so(project: Path) -> None:
    """A feature arriving as nulls said only "0 live rows" (its missing values were counted and dropped), and
    a version whose training run logged no split blamed each column ("the training split has no such column")."""
    import numpy as np

    from mlops_nb.monitoring import check
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    inputs = live(300).assign(x2=np.nan, color=None)
    write_log(project / "log", inputs, np.ones(300))
    result = check.run_pass(served_info(reference_frame(2000)), window.window(), log_dir=project / "log")
    for name in ("x2", "color"):
        gone = result["features"][name]
        assert gone["verdict"] == "insufficient data" and "300 more missing" in gone["reason"], gone
        assert (
            gone["missing"] == 300 and gone["missing_rate"] == 1.0 and gone["reference_missing_rate"] == 0.0
        )
    assert result["features"]["x1"]["missing_rate"] == 0.0
    bare = served_info(reference_frame(2000))
    bare.reference = bare.target_reference = None
    result = check.run_pass(bare, window.window(), log_dir=project / "log")
    assert {r["reason"] for r in result["features"].values()} == {
        "the version's training run recorded no training split statistics (mlops_nb.log_split)"
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"psi": float("nan")}, "`monitoring.psi` must be a number, not nan"),  # NaN: never drift
        ({"wasserstein": float("inf")}, "`monitoring.wasserstein` must be a number, not inf"),
        ({"buckets": 100_000_000}, "`monitoring.buckets` must be at most 1000"),  # 8 GB of counts per feature
    ],
)
def test_thresholds_that_disable_a_check_or_exhaust_memory_are_refused(values: dict, message: str) -> None:
    import re

    from mlops_nb.exceptions import ConfigError
    from mlops_nb.monitoring.settings import Thresholds

    with pytest.raises(ConfigError, match=re.escape(message)):
        Thresholds.from_dict(values)
    assert Thresholds.from_dict({"buckets": 1000}).buckets == 1000


def test_values_near_the_float_limit_give_a_null_mean_and_no_warning(project: Path) -> None:
    import warnings

    import numpy as np

    from mlops_nb.monitoring import check
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    inputs = live(300)
    inputs.loc[:2, "x1"] = 1e308
    write_log(project / "log", inputs, np.ones(300))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = check.run_pass(served_info(reference_frame(2000)), window.window(), log_dir=project / "log")
    assert result["features"]["x1"]["mean"] is None and result["features"]["x1"]["n"] == 300


def test_a_second_monitor_schedule_of_one_alias_is_refused(project: Path) -> None:
    """`monitor --every` twice added two schedules: every pass ran twice."""
    from mlops_nb import store
    from mlops_nb.monitoring import service
    from mlops_nb.scheduling import schedules

    client = store.client()
    client.create_registered_model("m")
    run = client.create_run(store.experiment_id("x"))
    client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("m", "champion", "1")
    first = service.schedule("m", "champion", "1h")
    with pytest.raises(UsageError, match=f"already monitored by schedule {first}"):
        service.schedule("m", "champion", "20s")
    assert [s.id for s in schedules.list_schedules() if s.kind == "monitor"] == [first]


def test_a_bad_row_in_a_feedback_file_is_named_by_its_line_and_nothing_is_stored(project: Path) -> None:
    """The error named the record's index among the labelled rows of its 10,000-row chunk (not the file's
    row), and the chunks before a bad one were stored."""
    import pandas as pd

    from mlops_nb.monitoring import service
    from mlops_nb.serving.feedback import FeedbackError

    frame = pd.DataFrame({"rid": [f"r{i}" for i in range(10_003)], "y": ["yes"] * 10_003, "row": 0})
    frame.loc[1, "y"] = None  # skipped: no label
    frame.loc[10_002, "row"] = -1
    path = project / "labels.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        FeedbackError, match="feedback record 10003: row must be an integer from 0 to 2147483647"
    ):
        service.load_feedback(path, model="m", id_column="rid", label_column="y", row_column="row")
    assert window.feedback("m").empty


def test_the_reports_health_names_the_out_of_domain_columns_and_new_categories(project: Path) -> None:
    """The report's health section gave only the overall out-of-domain rate (the JSON has it per column)."""
    import numpy as np

    from mlops_nb.monitoring import check, report
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    inputs = live(300)
    inputs.loc[:99, "color"] = "<b>ultraviolet</b>"
    ood = [["color"] if i < 100 else [] for i in range(300)]
    write_log(project / "log", inputs, np.ones(300), ood=ood)
    result = check.run_pass(served_info(reference_frame(2000)), window.window(), log_dir=project / "log")
    page = report.render(result)
    health = page[page.index('<section id="health">') : page.index('<section id="traffic">')]
    assert "<td>color</td><td>100</td><td>&lt;b&gt;ultraviolet&lt;/b&gt; (100)</td>" in health
    assert "33.3% of rows out of domain" in health


def test_an_outliers_effect_size_is_written_short() -> None:
    """One value near the float limit made the reason a 300-digit number that broke the report's table."""
    from mlops_nb.monitoring.drift import judge
    from mlops_nb.monitoring.settings import Thresholds

    result = judge(
        {}, p_value=0.5, effect=5.1e303, psi=0.01, thresholds=Thresholds(), effect_limit=0.1, effect_name="W"
    )
    assert "W 5.1e+303 (limit 0.1), PSI 0.010" in result["reason"] and len(result["reason"]) < 120


def test_a_log_of_another_model_is_not_judged_as_this_ones(project: Path) -> None:
    """Rows were matched by version number only: `--log-dir` at another model's log judged its version 1."""
    import numpy as np

    from mlops_nb.monitoring import check
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    write_log(project / "log", live(300, shift=2.0), np.ones(300))  # model "m", version "1"
    info = served_info(reference_frame(2000))
    info.model = "churn"
    result = check.run_pass(info, window.window(), log_dir=project / "log")
    assert {r["n"] for r in result["features"].values()} == {0} and result["verdict"] == "ok"


def test_a_regression_label_that_is_no_number_is_left_out_not_voiding_the_metric(project: Path) -> None:
    """One label such as "n/a" made the whole window's rmse None: decay said `not computed`."""
    import numpy as np
    import pandas as pd

    from mlops_nb.monitoring import check
    from tests.monitoring.logs import write_feedback
    from tests.unit.test_monitoring import live, reference_frame
    from tests.unit.test_monitoring import served as served_info

    ids = write_log(project / "log", live(200), np.full(200, 10.0))
    labels = [10.0 + (i % 3) for i in range(200)]
    labels[0], labels[1] = "n/a", {"value": 3}
    write_feedback(window.feedback_directory("m"), ids, labels)
    reference = reference_frame(2000)
    info = served_info(
        reference, task="regression", metric="test_rmse", greater_is_better=False, evaluation=1.0
    )
    info.target_reference = None
    result = check.run_pass(info, window.window(), log_dir=project / "log")
    decay = result["decay"]
    assert decay["verdict"] in ("ok", "decay") and decay["n"] == 198 and decay["unusable_labels"] == 2, decay
    expected = float(np.sqrt(np.mean(np.square(np.array(labels[2:], dtype=float) - 10.0))))
    assert decay["live"] == pytest.approx(expected)
    assert pd.notna(decay["low"])
