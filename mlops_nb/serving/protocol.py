"""MLflow's scoring protocol without a web framework: request bodies (JSON ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``; CSV) to checked input columns, predictions to JSON.

Errors name the problem and never repeat request data beyond a quoted, cut column name.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mlops_nb.exceptions import MlopsError

if TYPE_CHECKING:
    from mlops_nb.serving.model_source import InputColumn

PARQUET = "application/vnd.apache.parquet"
JSON_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class BadInputError(MlopsError):
    """A request body the model cannot score (malformed, or not matching its signature)."""


class TooLargeError(MlopsError):
    """A request body over the server's size limit."""

    status = 413


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body under its Content-Encoding (identity, gzip or deflate), refused over `limit` bytes."""
    import zlib

    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaError(
            f"The Content-Encoding {quoted(encoding)} is not accepted.", hint="Use gzip, deflate or none."
        )
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise BadInputError(f"The body is not valid {encoding} data.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise TooLargeError(f"The decompressed body is over the limit of {limit} bytes.")
    return data


class UnsupportedMediaError(MlopsError):
    """A content type the scoring protocol does not accept."""

    status = 415


@dataclass
class Batch:
    """Input rows as columns (signature order when the model has one), `n` rows."""

    columns: dict[str, list[Any]]
    n: int
    matrix: Any = None  # the rows as a float64 numpy matrix, when the fast path built one
    params: dict[str, Any] | None = None  # a JSON body's `params`, for the model's predict(..., params=)


def quoted(text: object, limit: int = 40) -> str:
    """A name from a request, cut and quoted so that it reads as data."""
    value = str(text)
    return repr(value if len(value) <= limit else value[:limit] + "...")


def parse(body: bytes, content_type: str | None, signature: list[InputColumn]) -> Batch:
    """The rows of a request body, checked against the signature (extra columns dropped)."""
    media, *parameters = (content_type or "").split(";")
    media = media.strip().lower()
    for parameter in filter(None, (p.strip() for p in parameters)):
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset":
            raise UnsupportedMediaError(
                f"The Content-Type parameter {quoted(key.strip())} is not accepted; only charset is.",
                hint="MLflow 2 dropped 'format=': put the format in the body, e.g. {\"dataframe_split\": ...}.",
            )
        if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaError("Only the charset utf-8 is accepted.")
    if media == "application/json":
        batch = _from_json(body, signature)
    elif media == "text/csv":
        batch = _from_csv(body)
    elif media == PARQUET:
        batch = _from_parquet(body)
    else:
        raise UnsupportedMediaError(
            f"Content-Type must be application/json, text/csv or {PARQUET}.",
            hint="Send MLflow's JSON (dataframe_split, dataframe_records, instances or inputs) or a CSV table.",
        )
    return check(batch, signature)


def _from_json(body: bytes, signature: list[InputColumn]) -> Batch:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _lenient_json(body, exc)
    if not isinstance(data, dict):
        raise BadInputError(
            "The body must be a JSON object with one of the keys " + ", ".join(JSON_KEYS) + "."
        )
    keys = [key for key in JSON_KEYS if key in data]
    if len(keys) != 1:
        found = "none" if not keys else "several (" + ", ".join(keys) + ")"
        raise BadInputError(f"The body must hold exactly one of {', '.join(JSON_KEYS)}; it holds {found}.")
    params = data.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadInputError("'params' must be an object of parameter names to values.")
    batch = _rows_of(keys[0], data[keys[0]], [column.name for column in signature])
    batch.params = params or None
    return batch


def _rows_of(key: str, value: Any, names: list[str]) -> Batch:
    if key == "dataframe_split":
        return _from_split(value, names)
    if key == "dataframe_records":
        return _from_records(value, key)
    if isinstance(value, dict):  # inputs/instances as a column dict
        return _from_column_dict(value, key)
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return _from_records(value, key)
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        return _from_rows(value, names, key)
    raise BadInputError(f"'{key}' must be a list of row objects, a list of rows or an object of columns.")


def _lenient_json(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """JSON with NaN, Infinity and -Infinity, as MLflow's own client writes missing values (Python's
    json accepts them; orjson does not): tried only when orjson refused the body."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadInputError(f"The body is not valid JSON ({error.msg} at byte {error.pos}).") from None


def _from_split(value: Any, names: list[str]) -> Batch:
    if not isinstance(value, dict) or "data" not in value:
        raise BadInputError(
            "'dataframe_split' must be an object with 'data' (and optionally 'columns', 'index')."
        )
    unknown = set(value) - {"data", "columns", "index"}
    if unknown:
        raise BadInputError(f"'dataframe_split' has unknown keys {sorted(map(quoted, unknown))}.")
    columns = value.get("columns", names)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadInputError("'dataframe_split.columns' must be a list of column names.")
    rows = value["data"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BadInputError("'dataframe_split.data' must be a list of rows (lists).")
    return _from_rows(rows, columns, "dataframe_split.data")


def _from_rows(rows: list[list[Any]], names: list[str], where: str) -> Batch:
    if not names:
        raise BadInputError(
            f"'{where}' gives rows without column names and the model has no named signature."
        )
    width = len(names)
    for index, row in enumerate(rows):
        if len(row) != width:
            raise BadInputError(
                f"Row {index} of '{where}' has {len(row)} values; {width} columns are expected."
            )
    return Batch({name: [row[i] for row in rows] for i, name in enumerate(names)}, len(rows))


def _from_records(rows: Any, where: str) -> Batch:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise BadInputError(f"'{where}' must be a list of row objects.")
    names = list(dict.fromkeys(name for row in rows for name in row))
    return Batch({name: [row.get(name) for row in rows] for name in names}, len(rows))


def _from_column_dict(value: dict[str, Any], where: str) -> Batch:
    columns = {name: (cells if isinstance(cells, list) else [cells]) for name, cells in value.items()}
    lengths = {len(cells) for cells in columns.values()}
    if len(lengths) > 1:
        raise BadInputError(f"The columns of '{where}' differ in length ({sorted(lengths)}).")
    return Batch(columns, lengths.pop() if lengths else 0)


def _from_csv(body: bytes) -> Batch:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except Exception as exc:
        raise BadInputError(f"The CSV body could not be read: {type(exc).__name__}.") from None
    columns = {str(name): frame[name].tolist() for name in frame.columns}
    for cells in columns.values():
        cells[:] = [None if isinstance(v, float) and math.isnan(v) else v for v in cells]
    return Batch(columns, len(frame))


def _from_parquet(body: bytes) -> Batch:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as exc:
        raise BadInputError(f"The Parquet body could not be read: {type(exc).__name__}.") from None
    columns = {  # pandas writes its index as __index_level_N__ columns: not an input
        str(name): table.column(i).to_pylist()
        for i, name in enumerate(table.column_names)
        if not str(name).startswith("__index_level_")
    }
    for cells in columns.values():
        cells[:] = [None if isinstance(v, float) and math.isnan(v) else v for v in cells]
    return Batch(columns, table.num_rows)


_NUMBER_TYPES = {"double": float, "float": float, "long": int, "integer": int}
_INT_RANGES = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}


def check(batch: Batch, signature: list[InputColumn]) -> Batch:
    """The batch restricted to the signature's columns in its order, each value of the right kind (ints
    given for a double column become floats; a float for an integer column must be whole)."""
    if batch.n == 0:
        raise BadInputError("The request holds no rows.")
    if not signature:
        return batch
    known = {column.name for column in signature}
    missing = [column.name for column in signature if column.required and column.name not in batch.columns]
    if missing:
        extra = [name for name in batch.columns if name not in known]
        hint = f" Unexpected columns: {', '.join(map(quoted, extra[:5]))}." if extra else ""
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        names = ", ".join(map(quoted, missing[:10]))
        raise BadInputError(f"Missing input columns: {names}{more}.{hint}")
    out: dict[str, list[Any]] = {}
    for column in signature:
        cells = batch.columns.get(column.name)
        if cells is None:
            continue
        out[column.name] = _cells(cells, column)
    return Batch(out, batch.n, params=batch.params)


def _cells(cells: list[Any], column: InputColumn) -> list[Any]:
    kind = _NUMBER_TYPES.get(column.type)
    if kind is not float and any(isinstance(value, float) and math.isnan(value) for value in cells):
        cells = [None if isinstance(v, float) and math.isnan(v) else v for v in cells]  # NaN = missing
    if kind is float and all(type(value) is float for value in cells):
        return cells  # the common case, checked in one pass
    if kind is float:
        for value in cells:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise BadInputError(
                    f"Column {quoted(column.name)} holds a non-number; {column.type} expected."
                )
        try:
            return [None if value is None else float(value) for value in cells]
        except OverflowError:
            raise BadInputError(
                f"Column {quoted(column.name)} holds a number too large for {column.type}."
            ) from None
    if kind is int:
        low, high = _INT_RANGES[column.type]
        values = []
        for value in cells:
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # noqa: PLW2901
            if value is None:
                raise BadInputError(
                    f"Column {quoted(column.name)} has a missing value; its type {column.type} cannot hold one.",
                    hint="Send a number, or declare the column as double in the model's signature.",
                )
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInputError(
                    f"Column {quoted(column.name)} holds a non-integer; {column.type} expected."
                )
            if not low <= value <= high:
                raise BadInputError(
                    f"Column {quoted(column.name)} holds an integer out of {column.type}'s range."
                )
            values.append(value)
        return values
    if column.type == "boolean":
        if any(value is not None and not isinstance(value, bool) for value in cells):
            raise BadInputError(f"Column {quoted(column.name)} holds a non-boolean; boolean expected.")
        return cells
    if column.type == "string":
        if any(value is not None and not isinstance(value, str) for value in cells):
            raise BadInputError(f"Column {quoted(column.name)} holds a non-string; string expected.")
        return cells
    return cells


def _fallback(value: Any) -> Any:
    """What orjson cannot write itself (it writes numeric numpy arrays only): numpy arrays of strings or
    objects (string class labels) and other numpy values, as Python lists/scalars."""
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return tolist()


def encode(payload: Any) -> bytes:
    """JSON for an answer: numpy arrays and scalars as lists and numbers, NaN as null."""
    return orjson.dumps(
        payload, default=_fallback, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )


def error_body(error: MlopsError, code: str) -> bytes:
    """MLflow's error shape ({error_code, message}), with <, > and & escaped so no client renders markup."""
    message = error.message if len(error.message) <= 500 else error.message[:500] + "..."
    if error.hint:
        message += " " + error.hint
    text = encode({"error_code": code, "message": message}).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def jsonable(predictions: Any) -> Any:
    """Predictions as MLflow answers them: a DataFrame as records, a Series as one-column records."""
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions.to_dict(orient="records")
    if isinstance(predictions, pd.Series):
        return predictions.to_frame().to_dict(orient="records")
    return predictions


def per_row(predictions: Any, n: int) -> list[Any]:
    """One log value per input row: a number as float, anything else as text (several outputs as JSON)."""
    import numpy as np

    values = jsonable(predictions)
    if isinstance(values, np.ndarray):
        if values.ndim == 1 and values.dtype.kind in "biuf":
            return values.astype(np.float64).tolist()
        values = values.tolist()
    if not isinstance(values, list) or len(values) != n:
        return [encode(values).decode()] * n
    out: list[Any] = []
    for value in values:
        if isinstance(value, bool | int | float | np.number) and not isinstance(value, bool):
            out.append(float(value))
        elif isinstance(value, str):
            out.append(value)
        else:
            out.append(encode(value).decode())
    if any(isinstance(value, str) for value in out):  # one type per log column
        out = [value if isinstance(value, str) else encode(value).decode() for value in out]
    return out
