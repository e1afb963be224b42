"""Whether an executed notebook ran to its end.

Papermill treats ``sys.exit(0)`` (or a bare ``raise SystemExit``) in a cell as a clean stop: the execution
succeeds, yet the cells after it never ran. A pipeline step (and ``validate``) needs every cell to have
run, so such a stop is a failure of kind ``early_exit`` that names the cell and quotes its first line.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from mlops_nb.capture.code import INJECTED_TAG
from mlops_nb.exceptions import NotebookFailedError

EARLY_EXIT = "early_exit"


def check_complete(nb: nbformat.NotebookNode, output: Path | None = None) -> None:
    """Raise NotebookFailedError (kind ``early_exit``) unless every code cell of the executed `nb` ran.

    The cell is named by its index in the source notebook (papermill's injected parameters cell left
    out) and its first line.
    """
    cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    code = [(index, c) for index, c in enumerate(cells) if c.cell_type == "code"]
    stopped = next((item for item in code if _exit_value(item[1]) is not None), None)
    if stopped is None:
        return
    index, cell = stopped
    skipped = sum(1 for i, c in code if i > index and c.source.strip())
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    raise NotebookFailedError(
        f"Cell {index} (`{first}`) exited with SystemExit({_exit_value(cell)}): the {skipped} code cell(s) after it never ran.",
        kind=EARLY_EXIT,
        cell=index,
        output=output,
        hint="A notebook must run to its end to count: remove the early exit, or raise an exception "
        "to fail on purpose.",
    )


def _exit_value(cell: nbformat.NotebookNode) -> str | None:
    """The SystemExit value a cell stopped with ("" for a bare one), None if it did not."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") == "SystemExit":
            return str(out.get("evalue", ""))
    return None
