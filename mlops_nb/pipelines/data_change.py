"""How a table changed between two reads: rows added, removed and changed, and columns added, removed or retyped.

Rows are compared by content (the order of the rows does not count). Without key columns, a row that changed shows
first as one row removed and one added; pairs that differ in at most half of their cells are then counted as one
changed row, the closest pairs first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_PAIRED = 200  # removed and added rows looked at for pairing (a larger change is described by its counts)
_EXAMPLES = 5


@dataclass(frozen=True)
class DataChange:
    """What differs between the data as recorded (`before`) and as it is now."""

    rows_before: int
    rows_now: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_retyped: dict[str, list[str]] = field(default_factory=dict)  # column -> [dtype before, dtype now]
    examples: list[dict[str, Any]] = field(default_factory=list)  # changed cells: column, before, now

    @property
    def none(self) -> bool:
        """True when nothing differs."""
        return not (
            self.added
            or self.removed
            or self.changed
            or self.columns_added
            or self.columns_removed
            or self.columns_retyped
        )

    def describe(self) -> str:
        """One line, e.g. ``400 rows then, 400 now: 1 row changed (x1: 0.12 -> 9.5)``."""
        parts = []
        for count, what in ((self.added, "added"), (self.removed, "removed"), (self.changed, "changed")):
            if count:
                parts.append(f"{count} row{'s' if count != 1 else ''} {what}")
        if self.columns_added:
            parts.append("columns added: " + ", ".join(self.columns_added))
        if self.columns_removed:
            parts.append("columns removed: " + ", ".join(self.columns_removed))
        for column, (old, new) in self.columns_retyped.items():
            parts.append(f"column {column} retyped {old} -> {new}")
        text = f"{self.rows_before} rows then, {self.rows_now} now: " + (
            "; ".join(parts) or "the same rows, in another order"
        )
        if self.examples:
            shown = ", ".join(f"{e['column']}: {e['before']!r} -> {e['now']!r}" for e in self.examples)
            text += f" (e.g. {shown})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def compare(before: pd.DataFrame, now: pd.DataFrame) -> DataChange:
    """How `now` differs from `before` (see the module docstring)."""
    columns_before = [str(c) for c in before.columns]
    columns_now = [str(c) for c in now.columns]
    common = [c for c in columns_before if c in columns_now]
    retyped = {
        c: [str(before[c].dtype), str(now[c].dtype)]
        for c in common
        if str(before[c].dtype) != str(now[c].dtype)
    }
    old, new = comparable(before[common], now[common])
    old_keys, new_keys = _row_keys(old), _row_keys(new)
    removed_counts = Counter(old_keys) - Counter(new_keys)
    added_counts = Counter(new_keys) - Counter(old_keys)
    removed = _rows_of(old, old_keys, removed_counts)
    added = _rows_of(new, new_keys, added_counts)
    pairs = _pair(removed[:_PAIRED], added[:_PAIRED], len(common))
    examples = [
        {"column": common[i], "before": _plain(a[i]), "now": _plain(b[i])}
        for a, b in pairs
        for i in range(len(common))
        if not _same(a[i], b[i])
    ][:_EXAMPLES]
    return DataChange(
        rows_before=len(before),
        rows_now=len(now),
        added=len(added) - len(pairs),
        removed=len(removed) - len(pairs),
        changed=len(pairs),
        columns_added=[c for c in columns_now if c not in columns_before],
        columns_removed=[c for c in columns_before if c not in columns_now],
        columns_retyped=retyped,
        examples=examples,
    )


def comparable(before: pd.DataFrame, now: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables with each retyped column in one type (float when both are numeric, else text), so a column
    that became float because one value did counts as one changed value, not as every row changed."""
    import pandas as pd

    before, now = before.reset_index(drop=True), now.reset_index(drop=True)
    for column in before.columns:
        if before[column].dtype == now[column].dtype:
            continue
        numeric = pd.api.types.is_numeric_dtype(before[column]) and pd.api.types.is_numeric_dtype(now[column])
        kind = "float64" if numeric else str
        before[column] = before[column].astype(kind)
        now[column] = now[column].astype(kind)
    return before, now


def _row_keys(frame: pd.DataFrame) -> list[int]:
    import pandas as pd

    return pd.util.hash_pandas_object(frame, index=False).tolist() if len(frame.columns) else [0] * len(frame)


def _rows_of(frame: pd.DataFrame, keys: list[int], wanted: Counter[int]) -> list[tuple[Any, ...]]:
    """The rows whose key is in `wanted`, as many times as it is counted there."""
    left = Counter(wanted)
    rows = []
    for position, key in enumerate(keys):
        if left[key] > 0:
            left[key] -= 1
            rows.append(tuple(frame.iloc[position]))
    return rows


def _pair(
    removed: list[tuple[Any, ...]], added: list[tuple[Any, ...]], width: int
) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """(removed, added) pairs differing in at most half of their cells, closest first, each row used once."""
    limit = max(1, width // 2)
    candidates = []
    for i, a in enumerate(removed):
        for j, b in enumerate(added):
            differing = sum(not _same(x, y) for x, y in zip(a, b, strict=True))
            if differing <= limit:
                candidates.append((differing, i, j))
    used_removed: set[int] = set()
    used_added: set[int] = set()
    pairs = []
    for _, i, j in sorted(candidates):
        if i not in used_removed and j not in used_added:
            used_removed.add(i)
            used_added.add(j)
            pairs.append((removed[i], added[j]))
    return pairs


def _same(a: Any, b: Any) -> bool:
    import pandas as pd

    if pd.isna(a) and pd.isna(b):
        return True
    return bool(a == b)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
