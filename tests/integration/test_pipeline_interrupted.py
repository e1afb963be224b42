"""An interruption (Ctrl-C, SIGTERM, sys.exit) anywhere in a pipeline run leaves no run RUNNING and no
half-made model version."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mlops_nb import records
from mlops_nb.exceptions import PipelineFailedError
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (the fixture)


def _interrupt_at(
    monkeypatch: pytest.MonkeyPatch, method: str, error: type[BaseException], n: int = 1
) -> None:
    """Make the `n`th call of MlflowClient.`method` raise `error`, as a signal arriving there would."""
    original = getattr(MlflowClient, method)
    calls = []

    def interrupted(self: MlflowClient, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == n:
            raise error()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, method, interrupted)


def _runs(project: Project) -> list:
    return project.client.search_runs([e.experiment_id for e in project.client.search_experiments()])


def test_an_interruption_while_the_run_opens_marks_it_killed(project: Project, monkeypatch) -> None:
    _interrupt_at(monkeypatch, "log_artifact", KeyboardInterrupt)  # the pipeline file, right after create_run
    with pytest.raises(KeyboardInterrupt):
        run.run(project.pipeline, run.RunOptions(progress=False, use_warm=False))
    runs = _runs(project)
    assert [r.info.status for r in runs] == ["KILLED"]
    assert runs[0].data.tags[records.TAG_PIPELINE_KIND] == records.PIPELINE_KIND_PIPELINE


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interruption_during_registration_leaves_no_version(
    project: Project, monkeypatch, error: type[BaseException]
) -> None:
    _interrupt_at(monkeypatch, "set_registered_model_alias", error)
    with pytest.raises((error, PipelineFailedError)):
        run.run(project.pipeline, run.RunOptions(progress=False))
    assert project.client.search_model_versions(f"name = '{MODEL_NAME}'") == []
    runs = _runs(project)
    assert "RUNNING" not in {r.info.status for r in runs}
    registration = [
        r for r in runs if r.data.tags.get(records.TAG_PIPELINE_STEP) == records.STEP_REGISTRATION
    ]
    assert [r.info.status for r in registration] == ["KILLED" if error is KeyboardInterrupt else "FAILED"]
