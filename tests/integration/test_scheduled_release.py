"""A scheduled run runs the environment's release (the real `mlops-nb release`), not the working copy as it
is now: the notebook broken after the release does not change what the scheduler runs."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat

from mlops_nb import records
from mlops_nb.pipelines import release
from mlops_nb.scheduling import schedules
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def test_a_scheduled_run_uses_the_release_not_the_edited_working_copy(project: Project) -> None:
    released = release.release(project.pipeline, "dev")
    notebook = nbformat.read(project.notebook, as_version=4)
    notebook.cells.insert(1, nbformat.v4.new_code_cell('raise RuntimeError("broken after the release")'))
    nbformat.write(notebook, project.notebook)
    schedule_id = schedules.add(project.pipeline, "dev", every="1h")
    schedules.run_now(schedule_id)

    done = subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", "scheduler", "--once"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (firing,) = [f for f in schedules.history(schedule_id) if f["run_id"]]
    assert firing["state"] == "finished", firing
    run = project.client.get_run(firing["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags[records.TAG_RELEASE] == released.tag_value == "dev#1"
    assert run.data.tags[records.TAG_TRIGGER] == "manual"
    assert json.loads(run.data.tags[records.TAG_TRIGGER_EVIDENCE]) is not None
    training = project.steps(firing["run_id"])[records.STEP_TRAINING]
    assert training.data.tags[records.TAG_NOTEBOOK_HASH] == released.notebook_hash
