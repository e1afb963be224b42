"""Out-of-domain inputs: per row, the columns whose value lies far outside the training split (numbers
beyond its range by more than `tolerance` times the range, non-finite numbers) or is a category the split
never held (when its statistics list every category). Built from capture's split statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOLERANCE = 0.25


@dataclass
class DomainCheck:
    """The flags of one model version's inputs."""

    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    categories: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_reference(
        cls, reference: dict[str, Any] | None, tolerance: float = DEFAULT_TOLERANCE
    ) -> DomainCheck:
        check = cls()
        for name, stats in ((reference or {}).get("columns") or {}).items():
            kind = stats.get("kind")
            if kind == "numeric" and stats.get("min") is not None and stats.get("max") is not None:
                low, high = float(stats["min"]), float(stats["max"])
                margin = tolerance * ((high - low) or abs(high) or 1.0)
                check.ranges[str(name)] = (low - margin, high + margin)
            elif kind == "categorical" and stats.get("top") and not stats.get("other_frequency"):
                check.categories[str(name)] = frozenset(str(entry["value"]) for entry in stats["top"])
        return check

    @property
    def empty(self) -> bool:
        return not self.ranges and not self.categories

    def flags(self, columns: dict[str, list[Any]], n: int) -> list[list[str]]:
        """For each of the `n` rows, the names of its out-of-domain columns."""
        out: list[list[str]] = [[] for _ in range(n)]
        for name, (low, high) in self.ranges.items():
            cells = columns.get(name)
            if cells is None:
                continue
            for index, value in enumerate(cells):
                if isinstance(value, int | float) and not (low <= value <= high):
                    out[index].append(name)  # NaN fails both comparisons: flagged too
        for name, known in self.categories.items():
            cells = columns.get(name)
            if cells is None:
                continue
            for index, value in enumerate(cells):
                if value is not None and str(value) not in known:
                    out[index].append(name)
        return out
