"""The exact words of errors that used to be unclear: each names its place once, says what to do, and
hints at the form the user was writing."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from mlops_nb import cli
from mlops_nb.exceptions import ConfigError
from mlops_nb.pipelines import spec, validate

NOTEBOOK = Path(__file__).parent.parent / "integration" / "notebooks" / "classifier.ipynb"
PIPELINE = """\
notebook: classifier.ipynb
parameters:
  C: {value}
data:
  source: data.csv
evaluation:
  target: label
model:
  name: demo-model
"""


def _pipeline(tmp_path: Path, value: str) -> Path:
    shutil.copy(NOTEBOOK, tmp_path / "classifier.ipynb")
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE.format(value=value), encoding="utf-8")
    return path


def test_a_bad_parameter_in_a_pipeline_file_names_its_place_once(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, "lots")
    with pytest.raises(ConfigError) as caught:
        spec.load(path)
    assert (
        str(caught.value)
        == f"{path}:3: `parameters.C` must be float, not 'lots'. Give C a value of type float."
    )


def test_an_unknown_parameter_in_a_pipeline_file_lists_the_declared_ones(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, "0.5\n  depth: 3")
    with pytest.raises(ConfigError) as caught:
        spec.load(path)
    assert str(caught.value) == (
        f"{path}:4: `parameters.depth` is not a parameter of the notebook. Its parameters cell declares: "
        "data_path: str | None, target: str, C: float, max_iter: int, "
        "mode: Literal['ok', 'raise', 'exit', 'hang']."
    )


def test_a_grid_without_values_hints_at_the_grid_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sweep", "pipeline.yaml", "--grid", "alpha"]) == 2
    assert capsys.readouterr().err == (
        "mlops-nb: error: --grid 'alpha' is not of the form name=v1,v2. Write e.g. --grid lr=0.01,0.1.\n"
    )


def test_a_missing_notebook_is_not_said_to_be_relative_to_a_pipeline_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "nope.ipynb", "--static"]) == 2
    assert capsys.readouterr().err == (
        f"mlops-nb: error: Notebook {tmp_path / 'nope.ipynb'} does not exist. "
        "Check the path: a relative one starts from the current folder.\n"
    )


def test_a_syntax_error_in_the_parameters_cell_is_listed_once() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("alpha: float = (0.1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("%load_ext mlops_nb\n%mlops track"),
    ]
    problems = validate.static_problems(nb)
    assert [(p.check, p.cell, p.line, p.message) for p in problems] == [
        ("parameters", 0, 1, "syntax error: '(' was never closed")
    ]


def test_a_broken_parameters_cell_is_listed_once_when_the_pipeline_file_names_the_notebook(
    tmp_path: Path,
) -> None:
    path = _pipeline(tmp_path, "0.5")
    nb = nbformat.read(tmp_path / "classifier.ipynb", as_version=4)
    nb.cells[2].source += "\nseed = int('3')"
    nbformat.write(nb, tmp_path / "classifier.ipynb")
    report = validate.validate(tmp_path / "classifier.ipynb", pipeline=path, dynamic=False)
    assert [(p.check, p.cell, p.line) for p in report.problems] == [("parameters", 2, 6)]


def test_a_bad_pipeline_file_is_listed_beside_the_notebooks_problems(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, "lots")
    nb = nbformat.read(tmp_path / "classifier.ipynb", as_version=4)
    nb.cells[3].source = "# tracking removed"
    nbformat.write(nb, tmp_path / "classifier.ipynb")
    report = validate.validate(tmp_path / "classifier.ipynb", pipeline=path, dynamic=False)
    assert [(p.check, p.message) for p in report.problems] == [
        ("tracking", "the notebook never calls `%mlops track`"),
        ("pipeline", f"{path}:3: `parameters.C` must be float, not 'lots'."),
    ]
