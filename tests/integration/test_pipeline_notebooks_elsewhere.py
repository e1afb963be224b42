"""Notebooks written elsewhere, run through `validate` and `run` as a new user would: the failing cell is
named by its place in the source notebook, `validate --pipeline` runs the notebook as `run` does, and the
messages say what happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mlops_nb import cli, records
from mlops_nb.exceptions import ConfigError, PipelineFailedError
from mlops_nb.pipelines import run, validate
from tests.helpers import make_notebook, papermill
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)

TRACK = "%load_ext mlops_nb\n%mlops track"


def test_a_cell_right_after_the_parameters_cell_is_named_by_its_source_index(project: Project) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    assert "parameters" in nb.cells[2].metadata["tags"]
    nb.cells.insert(
        3, nbformat.v4.new_code_cell('if mode == "raise":\n    raise RuntimeError("right after")')
    )
    nbformat.write(nb, project.notebook)
    with pytest.raises(PipelineFailedError) as caught:
        run.run(project.pipeline, run.RunOptions(parameters={"mode": "raise"}, progress=False))
    training = project.steps(caught.value.result.run_id)["training"]
    assert training.data.tags[records.TAG_ERROR_CELL] == "3"
    assert training.data.tags[records.TAG_ERROR].startswith(
        'Cell 3 (`if mode == "raise":`) raised RuntimeError: right after. Open the output notebook'
    )


def test_a_notebook_resaved_from_a_failed_papermill_output_is_named_by_its_own_cells(
    project: Project,
) -> None:
    frame = pd.read_csv(project.data)
    frame.to_parquet(project.root / "train.parquet")
    failed = papermill(
        project.notebook,
        project.root / "failed.ipynb",
        params={"mode": "raise", "data_path": str(project.root / "train.parquet")},
        check=False,
    )
    assert failed.returncode != 0
    resaved = nbformat.read(project.root / "failed.ipynb", as_version=4)
    markers = [
        i for i, c in enumerate(resaved.cells) if "papermill-error-cell-tag" in c.metadata.get("tags", [])
    ]
    assert len(markers) == 2  # papermill's banner at the top and its anchor before the failing cell
    failing = markers[1] + 1
    assert "boom from the notebook" in resaved.cells[failing].source
    nbformat.write(resaved, project.notebook)  # the user saves the output over the notebook

    report = validate.validate(
        project.notebook, pipeline=project.pipeline, smoke={"mode": "raise"}, timeout=120
    )
    assert [(p.check, p.cell) for p in report.problems] == [("run", failing)]
    assert report.problems[0].message == (
        f'Cell {failing} (`if mode == "raise":`) raised RuntimeError: boom from the notebook.'
    )


def test_validate_with_a_pipeline_refuses_a_notebook_run_would_refuse(project: Project, capsys) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("data_path: str | None = None\n", "")
    nb.cells[4].source = nb.cells[4].source.replace(
        "pd.read_parquet(data_path)", 'pd.read_csv("../data.csv")'
    )
    nbformat.write(nb, project.notebook)
    with pytest.raises(ConfigError) as refused:
        run.run(project.pipeline, run.RunOptions(progress=False))

    code = cli.main(["validate", str(project.notebook), "--pipeline", str(project.pipeline), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(p["check"], p["message"], p["fix"]) for p in report["problems"]] == [
        ("pipeline", refused.value.message, refused.value.hint)
    ]
    assert "has no `data_path` parameter" in refused.value.message


def test_a_missing_pipeline_file_is_reported_even_when_static_checks_fail(project: Project) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[3].source = "# tracking removed"
    nbformat.write(nb, project.notebook)
    missing = project.root / "pipelines" / "trian.yaml"
    report = validate.validate(project.notebook, pipeline=missing)
    assert [p.check for p in report.problems] == ["tracking", "pipeline"]
    assert report.problems[1].message == f"Pipeline file {missing} does not exist."


def test_a_line_magic_error_names_the_error_the_cell_printed(tmp_path: Path, project: Project) -> None:
    nb = make_notebook(
        tmp_path / "magic.ipynb", [TRACK, "%notamagic", "x = 1"], parameters="alpha: float = 0.1"
    )
    report = validate.validate(nb, timeout=120)
    assert [(p.check, p.cell) for p in report.problems] == [("run", 2)]
    assert report.problems[0].message == (
        "Cell 2 (`%notamagic`) raised UsageError: Line magic function `%notamagic` not found."
    )


def test_a_validate_timeout_hints_at_its_option_and_prints_no_kernel_noise(
    tmp_path: Path, project: Project
) -> None:
    nb = make_notebook(
        tmp_path / "slow.ipynb", [TRACK, "import time\ntime.sleep(600)"], parameters="alpha: float = 0.1"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", "validate", str(nb), "--timeout", "6", "--json"],
        cwd=project.root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (problem,) = json.loads(done.stdout)["problems"]
    assert problem["cell"] == 2
    assert problem["message"] == (
        "The whole-run timeout expired in cell 2 (`import time`) (the notebook had 6.0 s left); kernel killed."
    )
    assert problem["fix"] == "Make the notebook faster or raise --timeout (now 6 s)."
    assert "Kernel died" not in done.stderr and "Timeout waiting" not in done.stderr, done.stderr
