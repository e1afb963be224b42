"""`mlops-nb validate`: static checks located by cell, and a smoke run in a fresh kernel."""

from __future__ import annotations

import json

import nbformat

from mlops_nb import cli
from mlops_nb.pipelines import validate
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def test_smoke_run_of_a_good_notebook_passes(project: Project, capsys) -> None:
    code = cli.main(["validate", str(project.notebook), "--pipeline", str(project.pipeline), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["problems"]
    assert report["dynamic"]["ran"] is True
    assert report["dynamic"]["metrics"] >= 1
    assert report["dynamic"]["models"] == 1
    assert report["dynamic"]["parameters"]["max_iter"] == 20  # the pipeline's smoke parameters


def test_static_problems_name_the_cell_and_the_fix(project: Project) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[1].source += "\n!pip install lightgbm"
    nb.cells[3].source = "# tracking removed"
    nb.cells[6].source = nb.cells[6].source.replace("C=C", "C=C_value")
    nbformat.write(nb, project.notebook)
    report = validate.validate(project.notebook, dynamic=False)
    found = {(p.check, p.cell) for p in report.problems}
    assert found == {("install", 1), ("tracking", None), ("undefined", 6)}
    undefined = next(p for p in report.problems if p.check == "undefined")
    assert "C_value" in undefined.message
    assert undefined.line == 1
    assert "`%mlops track`" in next(p.fix for p in report.problems if p.check == "tracking")
    assert "FAILED (3 problem(s))" in validate.render(report)


def test_a_failing_smoke_run_reports_the_cell(project: Project) -> None:
    report = validate.validate(
        project.notebook, pipeline=project.pipeline, smoke={"mode": "raise"}, timeout=120
    )
    assert not report.passed
    assert [(p.check, p.cell) for p in report.problems] == [("run", 5)]
    assert "boom from the notebook" in report.problems[0].message


def test_the_smoke_run_starts_from_the_pipelines_parameters(project: Project) -> None:
    project.write_pipeline(parameters={"C": 0.25, "max_iter": 200})
    report = validate.validate(project.notebook, pipeline=project.pipeline, timeout=120)
    assert report.passed, report.problems
    assert report.dynamic["parameters"]["C"] == 0.25  # the pipeline's default, not the notebook's 1.0
    assert report.dynamic["parameters"]["max_iter"] == 20  # its smoke value wins


def test_cell_magic_bodies_are_checked_in_their_own_language(project: Project) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[5:5] = [
        nbformat.v4.new_code_cell("%%bash\nls -la data\npip install lightgbm"),
        nbformat.v4.new_code_cell("%%writefile query.sql\nSELECT * FROM houses WHERE price > 10;"),
        nbformat.v4.new_code_cell("%%time\nundefined_thing + 1"),
    ]
    nbformat.write(nb, project.notebook)
    report = validate.validate(project.notebook, dynamic=False)
    assert {(p.check, p.cell, p.line) for p in report.problems} == {("install", 5, 3), ("undefined", 7, 2)}


def test_tracking_is_recognised_under_any_import_name() -> None:
    def problems(*cells: str) -> list[str]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.cells.insert(0, nbformat.v4.new_code_cell("seed: int = 0", metadata={"tags": ["parameters"]}))
        return [p.check for p in validate.static_problems(nb)]

    for code in (
        "%mlops track --experiment x",
        "import mlops_nb\nmlops_nb.track(experiment='x')",
        "import mlops_nb as mn\nmn.track()",
        "from mlops_nb import log_metrics, track\ntrack()",
        "from mlops_nb import track as start_tracking\nstart_tracking(experiment='x')",
    ):
        assert "tracking" not in problems(code), code
    for code in (
        "import mlops_nb",
        "from mlops_nb import track",
        "def track():\n    pass\ntrack()",
        "x.track()",
    ):
        assert "tracking" in problems(code), code
