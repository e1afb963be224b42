"""A notebook that exits early (sys.exit(0), raise SystemExit) is not a complete training run."""

from __future__ import annotations

import nbformat
import pytest

from mlops_nb import records
from mlops_nb.exceptions import PipelineFailedError
from mlops_nb.pipelines import run, validate
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)

EXITS = ["__import__('sys').exit(0)", "raise SystemExit"]


def _exit_after_the_model(project: Project, line: str) -> int:
    """Insert a cell `line` after the one logging the model (autolog-like: the model is already there)."""
    nb = nbformat.read(project.notebook, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "log_model" in c.source) + 1
    nb.cells.insert(index, nbformat.v4.new_code_cell(f"{line}\nprint('unreachable')"))
    nbformat.write(nb, project.notebook)
    return index


@pytest.mark.parametrize("line", EXITS)
def test_an_early_exit_fails_training_and_registers_nothing(project: Project, line: str) -> None:
    index = _exit_after_the_model(project, line)
    with pytest.raises(PipelineFailedError) as caught:
        run.run(project.pipeline, run.RunOptions(progress=False))
    result = caught.value.result
    assert result.status == "FAILED"
    assert [s.name for s in result.steps] == ["ingestion", "data_validation", "training"]
    training = project.steps(result.run_id)["training"]
    assert training.info.status == "FAILED"
    assert training.data.tags[records.TAG_ERROR_KIND] == "early_exit"
    assert training.data.tags[records.TAG_ERROR_CELL] == str(index)
    assert f"Cell {index} (`{line}`) exited with SystemExit" in training.data.tags[records.TAG_ERROR]
    assert "the 1 code cell(s) after it never ran. A notebook must run to its end" in result.error
    assert project.client.get_run(result.run_id).info.status == "FAILED"
    assert project.client.search_registered_models() == []


@pytest.mark.parametrize("line", EXITS)
def test_validate_refuses_an_early_exit(project: Project, line: str) -> None:
    index = _exit_after_the_model(project, line)
    report = validate.validate(project.notebook, pipeline=project.pipeline)
    assert not report.passed
    problem = next(p for p in report.problems if p.check == "run")
    assert problem.cell == index
    assert f"(`{line}`) exited with SystemExit" in problem.message
