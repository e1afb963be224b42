"""Helpers for tests that execute notebooks in real kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent


def make_notebook(path: Path, cells: list[str], *, parameters: str | None = None) -> Path:
    """Write a notebook of code cells; `parameters` becomes the cell tagged `parameters` (placed first)."""
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def papermill(
    notebook: Path,
    output: Path,
    *,
    params: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Execute a notebook with the papermill CLI in a real kernel (its own process)."""
    args = [str(BIN / "papermill"), "--log-level", "WARNING", str(notebook), str(output), "-k", "python3"]
    for name, value in (params or {}).items():
        args += ["-p", name, str(value)]
    done = subprocess.run(
        args,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=notebook.parent,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"papermill failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def outputs(path: Path) -> str:
    """All text output of an executed notebook, cells joined."""
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(
                out.get("text")
                or out.get("data", {}).get("text/plain", "")
                or "\n".join(out.get("traceback", []))
            )
    return "\n".join(parts)
