"""Data splits: what the data is, full-content fingerprints and row overlap (statistics: capture/profile.py).

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


# --------------------------------------------------------------------------- what the data is


def data_type(data: Any) -> str:
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
    data_type(data)
    return int(data.shape[0])


# --------------------------------------------------------------------------- as a table


def as_frame(data: Any) -> Any:
    """The data as a DataFrame with unique string column names.

    A 1-D array or unnamed Series gives "value"; a 2-D array "0", "1", ... (further dimensions flattened);
    a record array its field names.
    """
    import pandas as pd

    kind = data_type(data)
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
    kind = data_type(data)
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

    frame = as_frame(data)
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

    data_type(a)
    data_type(b)
    if int(np.prod(a.shape[1:])) != int(np.prod(b.shape[1:])):  # different widths share no row
        return 0
    return int(np.isin(row_hashes(b), row_hashes(a)).sum())
