"""What the gate reports share: verdicts, JSON-safe values and a plain-text table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

PASS = "pass"
FAIL = "fail"
SKIP = "skip"  # the check could not be made (and does not block); the message says why
NO_BASELINE = "no baseline"  # a comparison with a champion while there is none (does not block)


def json_safe(value: Any) -> Any:
    """`value` with non-finite floats as strings ("inf", "nan"), so the report is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def fmt(value: Any) -> str:
    """A short human form of a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; the last column (a message) is never padded."""
    cells = [[fmt(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [value.ljust(width) for value, width in zip(values[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, values[-1]]).rstrip()

    rule = "  ".join("-" * width for width in [*widths[:-1], min(widths[-1], 40)])
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])
