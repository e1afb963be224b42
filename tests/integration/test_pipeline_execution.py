"""One papermill execution: the kernel it starts ends with it, through its exit handlers."""

from __future__ import annotations

from pathlib import Path

import nbformat
import psutil
import pytest

from mlops_nb.exceptions import NotebookFailedError
from mlops_nb.pipelines import run
from mlops_nb.pipelines.execution import Execution, execute
from tests.helpers import make_notebook
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def _kernels() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


def test_no_kernel_outlives_its_execution(tmp_path: Path) -> None:
    ok = make_notebook(tmp_path / "ok.ipynb", ["x = 1"])
    bad = make_notebook(tmp_path / "bad.ipynb", ["raise ValueError('no')"])
    execute(Execution(ok, tmp_path / "out" / "ok.ipynb"))
    with pytest.raises(NotebookFailedError, match="ValueError"):
        execute(Execution(bad, tmp_path / "out" / "bad.ipynb"))
    assert _kernels() == []


def test_a_session_without_mlops_stop_ends_at_kernel_shutdown(project: Project) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells = [c for c in nb.cells if "%mlops stop" not in c.source]
    nbformat.write(nb, project.notebook)
    result = run.run(project.pipeline, run.RunOptions(progress=False))
    training = project.steps(result.run_id)["training"]
    artifacts = {a.path for a in project.client.list_artifacts(training.info.run_id, "execution")}
    assert artifacts == {"execution/order.json"}  # written by the session's end in the kernel's atexit


def test_an_unknown_kernel_is_a_kernel_start_failure_naming_it(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path / "ok.ipynb", ["x = 1"])
    with pytest.raises(NotebookFailedError, match="no kernel named 'nosuchkernel'") as caught:
        execute(Execution(notebook, tmp_path / "out" / "ok.ipynb", kernel_name="nosuchkernel"))
    assert caught.value.kind == "kernel_start"
    assert "jupyter kernelspec list" in (caught.value.hint or "")
