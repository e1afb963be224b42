"""Execution order of a notebook's cells: recorded from the kernel, checked against the notebook's order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_nb.capture.code import cell_source


@dataclass(frozen=True)
class Execution:
    """One executed cell as the kernel saw it."""

    count: int
    source: str
    cell_id: str | None = None
    error: bool = False


@dataclass
class ExecutionLog:
    """Cells executed by this kernel, in order (filled by the IPython adapter)."""

    entries: dict[int, Execution] = field(default_factory=dict)

    def record(self, count: int | None, source: str, cell_id: str | None = None, error: bool = False) -> None:
        """Add an execution (counts are IPython's execution counts; silent runs have none and are skipped)."""
        if count:
            self.entries[count] = Execution(count, source, cell_id, error)

    def backfill(self, raw_history: list[str]) -> None:
        """Add executions from before recording started (IPython's raw input history, index = count)."""
        for count, source in enumerate(raw_history):
            if count and count not in self.entries:
                self.entries[count] = Execution(count, source)

    def ordered(self) -> list[Execution]:
        """Executions by count."""
        return [self.entries[k] for k in sorted(self.entries)]

    @property
    def last_failed(self) -> bool:
        """True when the most recent execution raised."""
        ordered = self.ordered()
        return bool(ordered) and ordered[-1].error


@dataclass(frozen=True)
class OrderReport:
    """How the executions map onto the notebook's cells."""

    in_order: bool
    sequence: list[dict[str, Any]]
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (artifact ``execution/order.json``)."""
        return {"in_order": self.in_order, "problems": self.problems, "sequence": self.sequence}


def _label(index: int, source: str) -> str:
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return f"cell {index + 1} ({first[:40]!r})" if first else f"cell {index + 1}"


def check_order(notebook: dict[str, Any] | None, executions: list[Execution]) -> OrderReport:
    """Compare execution order to cell order; cells are matched by id, else by identical source.

    Out of order means a cell ran after a cell that stands below it in the notebook (including an earlier
    cell re-run after later ones). Executions that match no cell (scratch code, papermill's injected
    parameters) are listed with no index and do not count.
    """
    cells = (notebook or {}).get("cells", [])
    by_id = {c.get("id"): i for i, c in enumerate(cells) if c.get("id")}
    by_source: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            by_source.setdefault(cell_source(cell).strip(), []).append(i)
    sequence: list[dict[str, Any]] = []
    problems: list[str] = []
    highest = -1
    for execution in executions:
        index = by_id.get(execution.cell_id) if execution.cell_id else None
        if index is None:
            candidates = by_source.get(execution.source.strip(), [])
            index = next((i for i in candidates if i >= highest), candidates[0] if candidates else None)
        sequence.append(
            {"execution_count": execution.count, "cell_index": index, "cell_id": execution.cell_id}
        )
        if index is None:
            continue
        if index < highest:
            problems.append(
                f"{_label(index, cell_source(cells[index]))} ran (execution {execution.count}) after "
                f"{_label(highest, cell_source(cells[highest]))}"
            )
        highest = max(highest, index)
    return OrderReport(in_order=not problems, sequence=sequence, problems=problems)
