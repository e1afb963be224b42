"""Schema and per-column statistics of a data split: the profile stored as `splits/<name>.json`, the
reference that data validation and drift checks compare against.

Pure functions over pandas DataFrames and Series and numpy arrays; nothing here talks to MLflow.
"""

from __future__ import annotations

import math
from typing import Any

from mlops_nb.capture.data import as_frame, data_type, fingerprint

_QUANTILES = (1, 5, 25, 50, 75, 95, 99)  # in percent; stored as "0.01", ..., "0.99"
_HISTOGRAM_BINS = 20
_TOP_VALUES = 50


def _column_kind(dtype: Any) -> str:
    """'boolean' | 'datetime' | 'numeric' | 'categorical' for a column's dtype."""
    import numpy as np
    import pandas as pd

    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        arrow = dtype.pyarrow_dtype
        if pa.types.is_boolean(arrow):
            return "boolean"
        if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
            return "datetime"
        if pa.types.is_integer(arrow) or pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
            return "numeric"
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return "boolean"
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        return "datetime"
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        return "numeric"  # durations, in seconds
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    return "categorical"


def profile(
    data: Any, *, name: str, context: str, digest: str | None = None, seed: int | None = None
) -> dict[str, Any]:
    """Schema and per-column statistics of a split, JSON-serialisable (NaN and infinities become null)."""
    kind = data_type(data)
    frame = as_frame(data)
    schema = []
    columns = {}
    for column_name, column in frame.items():
        column_kind = _column_kind(column.dtype)
        schema.append({"name": column_name, "dtype": str(column.dtype), "kind": column_kind})
        columns[column_name] = _STATISTICS[column_kind](column)
    return {
        "name": name,
        "context": context,
        "digest": digest if digest is not None else fingerprint(data),
        "type": kind,
        "num_rows": int(frame.shape[0]),
        "num_columns": int(frame.shape[1]),
        "seed": None if seed is None else int(seed),
        "schema": schema,
        "columns": columns,
    }


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _missing(column: Any) -> dict[str, Any]:
    missing = int(column.isna().sum())
    total = len(column)
    return {"count": total - missing, "missing": missing, "missing_rate": missing / total if total else 0.0}


def _numeric_statistics(column: Any) -> dict[str, Any]:
    """Moments, quantiles, 101 percentiles and a 20-bin histogram over the finite values (one sort)."""
    import numpy as np

    stats = {"kind": "numeric", **_missing(column)}
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "m":
        column = column.dt.total_seconds()
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    ordered = np.sort(values[np.isfinite(values)])
    n = ordered.size
    if n == 0:
        empty = dict.fromkeys(("mean", "std", "min", "max"))
        quantiles = dict.fromkeys(f"{q / 100:g}" for q in _QUANTILES)
        histogram = {"edges": [], "counts": []}
        return {**stats, **empty, "quantiles": quantiles, "percentiles": [None] * 101, "histogram": histogram}
    position = np.arange(101) * (n - 1) / 100
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    percentiles = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    lowest, highest = ordered[0], ordered[-1]
    edges = np.linspace(lowest, highest, _HISTOGRAM_BINS + 1) if highest > lowest else None
    if edges is None:  # one distinct value: numpy's convention of a unit-wide range around it
        edges = np.linspace(lowest - 0.5, highest + 0.5, _HISTOGRAM_BINS + 1)
    bounds = np.concatenate(([0], np.searchsorted(ordered, edges[1:-1], side="left"), [n]))
    return {
        **stats,
        "mean": _number(ordered.mean()),
        "std": _number(ordered.std(ddof=1)) if n > 1 else None,
        "min": _number(lowest),
        "max": _number(highest),
        "quantiles": {f"{q / 100:g}": _number(percentiles[q]) for q in _QUANTILES},
        "percentiles": [_number(p) for p in percentiles],
        "histogram": {"edges": [_number(e) for e in edges], "counts": np.diff(bounds).tolist()},
    }


def _categorical_statistics(column: Any, kind: str = "categorical") -> dict[str, Any]:
    """Cardinality and the most frequent values, frequencies relative to the non-missing values."""
    stats = {"kind": kind, **_missing(column)}
    present = column.dropna()
    try:
        counts = present.value_counts(sort=True)
    except (TypeError, NotImplementedError):  # unhashable cells (lists, dicts): count their text
        counts = present.astype(str).value_counts(sort=True)
    counts = counts[counts > 0]  # categoricals list unobserved categories
    total = stats["count"]
    top = [
        {"value": str(value), "count": int(count), "frequency": int(count) / total}
        for value, count in counts.iloc[:_TOP_VALUES].items()
    ]
    covered = sum(entry["count"] for entry in top)
    return {
        **stats,
        "cardinality": len(counts),
        "top": top,
        "other_frequency": (total - covered) / total if total else 0.0,
    }


def _datetime_statistics(column: Any) -> dict[str, Any]:
    stats = {"kind": "datetime", **_missing(column)}
    present = column.dropna()
    if present.empty:
        return {**stats, "min": None, "max": None}
    return {**stats, "min": present.min().isoformat(), "max": present.max().isoformat()}


_STATISTICS = {
    "numeric": _numeric_statistics,
    "categorical": _categorical_statistics,
    "boolean": lambda column: _categorical_statistics(column, "boolean"),
    "datetime": _datetime_statistics,
}


# --------------------------------------------------------------------------- MLflow schema


def mlflow_schema(data: Any) -> dict[str, list[dict[str, Any]]]:
    """MLflow's column-spec schema (the JSON of `mlflow.entities.Dataset.schema`), names as in `profile`.

    Types MLflow cannot represent (durations, complex numbers, mixed objects) are given as "string".
    """
    frame = as_frame(data)
    return {
        "mlflow_colspec": [
            {"type": _mlflow_type(column), "name": column_name, "required": not bool(column.isna().any())}
            for column_name, column in frame.items()
        ]
    }


_MLFLOW_OBJECT_TYPES = {  # pandas.api.types.infer_dtype of an object column -> MLflow type
    "string": "string",
    "bytes": "binary",
    "boolean": "boolean",
    "integer": "long",
    "floating": "double",
    "datetime64": "datetime",
    "datetime": "datetime",
}


def _mlflow_type(column: Any) -> str:
    """MLflow's DataType name for a column, following mlflow.types.utils' inference."""
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _mlflow_type(pd.Series(dtype.categories))
    if isinstance(dtype, pd.ArrowDtype):
        dtype = dtype.numpy_dtype
    elif isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    elif isinstance(dtype, pd.StringDtype):
        return "string"
    elif not isinstance(dtype, np.dtype):
        dtype = getattr(dtype, "numpy_dtype", np.dtype(object))
    if dtype.kind == "O":
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        return _MLFLOW_OBJECT_TYPES.get(inferred, "string")
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind in "iu":
        if dtype.itemsize < 4 or (dtype.kind == "i" and dtype.itemsize == 4):
            return "integer"
        return "long" if dtype.itemsize < 8 or dtype.kind == "i" else "double"
    if dtype.kind == "f":
        return "float" if dtype.itemsize <= 4 else "double"
    if dtype.kind == "M":
        return "datetime"
    if dtype.kind == "S":
        return "binary"
    return "string"
