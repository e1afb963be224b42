"""Data splits: full-content fingerprints, schema, per-column statistics and row overlap.

Pure functions over pandas DataFrames and Series and numpy arrays; nothing here talks to MLflow.
numpy, pandas, pyarrow and xxhash are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from mlops_nb.exceptions import UnsupportedDataError

SUPPORTED = "pandas DataFrame, pandas Series or numpy ndarray"

_FINGERPRINT_VERSION = "mlops_nb.fingerprint.v1"
_RANGE_CHUNK = 1 << 16  # rows of a RangeIndex materialised at a time (stays in cache)
_QUANTILES = (1, 5, 25, 50, 75, 95, 99)  # in percent; stored as "0.01", ..., "0.99"
_HISTOGRAM_BINS = 20
_TOP_VALUES = 50


# --------------------------------------------------------------------------- what the data is


def _data_type(data: Any) -> str:
    """'pandas.DataFrame' | 'pandas.Series' | 'numpy.ndarray', or UnsupportedDataError."""
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if pd is not None and isinstance(data, pd.DataFrame):
        return "pandas.DataFrame"
    if pd is not None and isinstance(data, pd.Series):
        return "pandas.Series"
    if np is not None and isinstance(data, np.ndarray):
        if data.ndim == 0:
            raise UnsupportedDataError(
                "A 0-dimensional numpy array is a scalar, not a data split.",
                hint=f"Pass a {SUPPORTED} with at least one dimension.",
            )
        return "numpy.ndarray"
    kind = type(data)
    raise UnsupportedDataError(
        f"A {kind.__module__}.{kind.__qualname__} cannot be recorded as a data split: use a {SUPPORTED}.",
        hint="Convert it first, e.g. pandas.DataFrame(data) or numpy.asarray(data).",
    )


def num_rows(data: Any) -> int:
    """Number of rows (first dimension) of a DataFrame, Series or array."""
    _data_type(data)
    return int(data.shape[0])


# --------------------------------------------------------------------------- fingerprint


class _Digest:
    """A streaming xxh3_128 over framed parts: tags are length-prefixed, buffers are raw bytes."""

    def __init__(self) -> None:
        import xxhash

        self._hash = xxhash.xxh3_128()

    def tag(self, *parts: object) -> None:
        for part in parts:
            raw = str(part).encode("utf-8", "surrogatepass")
            self._hash.update(len(raw).to_bytes(8, "little"))
            self._hash.update(raw)

    def raw(self, array: Any) -> None:
        """The bytes of a numpy array in C order (copied only if it is not contiguous)."""
        import numpy as np

        self._hash.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))

    def bytes(self, raw: bytes | memoryview) -> None:
        self._hash.update(raw)

    def digest(self) -> bytes:
        return self._hash.digest()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def fingerprint(data: Any) -> str:
    """32-hex xxh3_128 digest of the full content: every value, column name, dtype, the index and row order.

    Numeric, boolean and datetime columns are hashed as their raw buffers; categoricals as categories and
    codes; strings through their Arrow buffers; other objects by type and repr.
    """
    kind = _data_type(data)
    h = _Digest()
    h.tag(_FINGERPRINT_VERSION, kind, *data.shape)
    if kind == "numpy.ndarray":
        _hash_ndarray(h, data)
    elif kind == "pandas.Series":
        h.tag("name", _label(data.name))
        _hash_index(h, data.index)
        _hash_values(h, _values(data))
    else:
        h.tag("columns", *(_label(c) for c in data.columns.tolist()))
        _hash_index(h, data.index)
        for _, column in data.items():
            _hash_values(h, _values(column))
    return h.hexdigest()


def _label(label: object) -> str:
    return f"{type(label).__qualname__}:{label!r}"


def _values(obj: Any) -> Any:
    """A Series' or Index's values: the numpy array itself (no copy) or its pandas extension array."""
    import numpy as np

    return obj.to_numpy() if isinstance(obj.dtype, np.dtype) else obj.array


def _hash_ndarray(h: _Digest, array: Any) -> None:
    h.tag(repr(array.dtype))  # names the byte order and a record array's fields
    if array.dtype.hasobject or array.dtype.kind == "T":  # object or numpy StringDType: no raw bytes
        _hash_objects(h, array.reshape(-1).astype(object, copy=False))
    else:
        h.raw(array)


def _hash_index(h: _Digest, index: Any) -> None:
    import numpy as np
    import pandas as pd

    h.tag("index", *(_label(n) for n in index.names))
    if isinstance(index, pd.MultiIndex):
        for level in range(index.nlevels):
            _hash_values(h, _values(index.get_level_values(level)))
    elif isinstance(index, pd.RangeIndex):
        # Same bytes as the equal materialised int64 index, produced in cache-sized chunks.
        h.tag("int64")
        for start in range(0, len(index), _RANGE_CHUNK):
            h.raw(np.asarray(index[start : start + _RANGE_CHUNK], dtype=np.int64))
    else:
        _hash_values(h, _values(index))


def _hash_values(h: _Digest, values: Any) -> None:
    """One column (1-D numpy array or pandas extension array), its dtype first."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    h.tag(str(dtype))
    if isinstance(values, np.ndarray):
        if dtype.hasobject or dtype.kind == "T":
            _hash_objects(h, values.astype(object, copy=False))
        else:
            h.raw(values)
    elif isinstance(dtype, pd.CategoricalDtype):
        h.tag("ordered", dtype.ordered)
        _hash_values(h, _values(dtype.categories))
        h.raw(values.codes)
    elif isinstance(dtype, pd.DatetimeTZDtype):
        h.raw(np.asarray(values.tz_convert(None)))  # UTC instants; the zone is in the dtype tag
    elif isinstance(values, (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)):
        fill = False if dtype.kind == "b" else 0
        h.raw(values.isna())
        h.raw(values.to_numpy(dtype=dtype.numpy_dtype, na_value=fill))
    elif isinstance(dtype, (pd.StringDtype, pd.ArrowDtype)):
        _hash_arrow(h, values)
    else:  # period, interval, sparse, third-party extension arrays
        try:
            h.raw(pd.util.hash_pandas_object(pd.Series(values, copy=False), index=False).to_numpy())
        except TypeError:
            _hash_objects(h, np.asarray(values, dtype=object))


def _chunks(arrow: Any) -> list[Any]:
    import pyarrow as pa

    return arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]


def _hash_arrow(h: _Digest, values: Any) -> None:
    """An Arrow-backed column, independent of how it is chunked or sliced, and of string offset width."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = pa.array(values) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values
    kind = arrow.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        family, base, empty = "utf8", pa.large_string(), ""
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        family, base, empty = "binary", pa.large_binary(), b""
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        family, base, empty = str(kind), None, 0
    else:  # booleans, temporals, decimals, nested types: through numpy or Python objects
        data = arrow.to_numpy(zero_copy_only=False)
        h.tag(str(kind))
        h.raw(np.asarray(arrow.is_null()))
        _hash_values(h, data)
        return
    h.tag(family)
    valid, lengths, content = _Digest(), _Digest(), _Digest()
    for chunk in _chunks(arrow):
        present = chunk
        if chunk.null_count:
            valid.raw(np.asarray(chunk.is_valid()))
            present = pc.fill_null(chunk, empty)
        else:
            valid.raw(np.ones(len(chunk), dtype=bool))
        if base is None:
            content.raw(present.to_numpy())
        else:
            _hash_variable_width(lengths, content, present.cast(base))
    for part in (valid, lengths, content):
        h.bytes(part.digest())


def _hash_variable_width(lengths: _Digest, content: _Digest, chunk: Any) -> None:
    """A large_string/large_binary chunk: its value lengths and the bytes it spans (not its offsets)."""
    import numpy as np

    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
    lengths.raw(np.diff(offsets))
    if len(chunk) and offsets[-1] > offsets[0]:
        content.bytes(memoryview(chunk.buffers()[2])[offsets[0] : offsets[-1]])


def _hash_objects(h: _Digest, values: Any) -> None:
    """A 1-D object array: strings and bytes through Arrow (fast), anything else by type and repr."""
    import numpy as np
    import pyarrow as pa

    try:
        arrow = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        arrow = None
    if arrow is not None and (pa.types.is_large_string(arrow.type) or pa.types.is_string(arrow.type)):
        h.tag("objects:utf8")
        _hash_arrow(h, arrow)
        return
    if arrow is not None and (pa.types.is_large_binary(arrow.type) or pa.types.is_binary(arrow.type)):
        h.tag("objects:binary")
        _hash_arrow(h, arrow)
        return
    h.tag("objects:repr")
    pieces = [
        f"{type(v).__module__}.{type(v).__qualname__}:{v!r}".encode("utf-8", "surrogatepass") for v in values
    ]
    h.raw(np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces)))
    h.bytes(b"".join(pieces))


# --------------------------------------------------------------------------- row hashes and leakage


def row_hashes(data: Any) -> Any:
    """One uint64 per row from the row's values only (not the index): equal rows have equal hashes."""
    import numpy as np
    import pandas as pd

    frame = _as_frame(data)
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts): hash their text
        hashes = pd.util.hash_pandas_object(frame.astype(str), index=False)
    return hashes.to_numpy(dtype=np.uint64)


def has_repeats(hashes: Any) -> bool:
    """Whether some rows are equal, given their `row_hashes`."""
    import numpy as np

    return int(np.unique(hashes).size) < len(hashes)


def shared_row_count(a: Any, b: Any) -> int:
    """Rows of `b` whose content also appears as a row of `a` (train/test leakage)."""
    import numpy as np

    _data_type(a)
    _data_type(b)
    if int(np.prod(a.shape[1:])) != int(np.prod(b.shape[1:])):  # different widths share no row
        return 0
    return int(np.isin(row_hashes(b), row_hashes(a)).sum())


# --------------------------------------------------------------------------- schema and statistics


def _as_frame(data: Any) -> Any:
    """The data as a DataFrame with unique string column names.

    A 1-D array or unnamed Series gives "value"; a 2-D array "0", "1", ... (further dimensions flattened);
    a record array its field names.
    """
    import pandas as pd

    kind = _data_type(data)
    if kind == "numpy.ndarray":
        array = data.astype(object) if data.dtype.kind == "T" else data
        if array.dtype.names is not None:  # a record array: its fields are the columns
            if array.ndim != 1:
                raise UnsupportedDataError(
                    f"A {array.ndim}-dimensional record array has no table form.",
                    hint="Pass a 1-dimensional record array or a pandas DataFrame.",
                )
            frame = pd.DataFrame(array)
        elif array.ndim == 1:
            frame = pd.DataFrame({"value": array}, copy=False)
        else:
            array = array.reshape(array.shape[0], math.prod(array.shape[1:]))  # -1 fails on 0 rows
            frame = pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])], copy=False)
    elif kind == "pandas.Series":
        frame = data.to_frame(name="value" if data.name is None else str(data.name))
    else:
        frame = data
    names = _unique_names(frame.columns.tolist())
    if names != frame.columns.tolist():
        frame = frame.set_axis(names, axis=1)
    return frame


def _unique_names(labels: list[Any]) -> list[str]:
    """`str(label)`, with ".1", ".2", ... appended to repeated names."""
    seen: set[str] = set()
    names = []
    for label in labels:
        name = base = str(label)
        suffix = 0
        while name in seen:
            suffix += 1
            name = f"{base}.{suffix}"
        seen.add(name)
        names.append(name)
    return names


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
    kind = _data_type(data)
    frame = _as_frame(data)
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
    frame = _as_frame(data)
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
