"""The data trigger on a pipeline that reads a registered dataset fires on a new version (real store and
scheduler database, no runs)."""

from __future__ import annotations

import sqlalchemy as sa

from mlops_nb import datasets
from mlops_nb.scheduling import schedules, state
from mlops_nb.scheduling.scheduler import Scheduler
from tests.integration.pipeline_project import Project, make_data, project_fixture  # noqa: F401


def _firings(schedule_id: str) -> list[sa.Row]:
    with state.transaction() as db:
        query = sa.select(state.firings).where(state.firings.c.schedule_id == schedule_id)
        return db.execute(query.order_by(state.firings.c.fire_time)).all()


def test_a_new_dataset_version_fires_the_data_trigger(project: Project) -> None:
    datasets.add("fixture-data", project.data)
    project.write_pipeline(data={"dataset": "fixture-data", "test_split": {"fraction": 0.25, "seed": 3}})
    schedule_id = schedules.add(project.pipeline, "dev", on_data=True)
    scheduler = Scheduler()
    scheduler.plan()
    scheduler.plan()
    assert _firings(schedule_id) == []  # no new version: no firing

    datasets.add("fixture-data", make_data(project.root / "more.csv", rows=450, seed=1))
    scheduler.plan()
    (fired,) = _firings(schedule_id)
    evidence = state.loads(fired.evidence)
    assert fired.kind == "data" and evidence["new_files"] == ["fixture-data@2"]
    assert (evidence["new_rows"], evidence["rows"]) == (50, 450)
    scheduler.plan()
    assert len(_firings(schedule_id)) == 1  # that version was seen: no second firing
