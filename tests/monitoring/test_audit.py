"""Defects found by the monitoring audit (a new user's churn classifier, outside the repository), each with
the test that failed before its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.monitoring import record, served, window
from mlops_nb.monitoring.served import Served


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
