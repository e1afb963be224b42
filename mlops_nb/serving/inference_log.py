"""The inference log: one Parquet row per scored input row, written off the request path.

Files are ``part-<UTC yyyymmddTHHMMSS>-<pid>-<seq>.parquet`` in one folder per model. Rows are appended to
a buffer; a background thread writes them as row groups into a hidden temporary file, which is renamed
into place (os.replace, same folder) when it reaches `max_bytes`, is `max_seconds` old, or on flush/close.
Readers only see complete parts. Layout and columns: see SERVING.md (shared with monitoring).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
PART = re.compile(r"^part-\d{8}T\d{6}-\d+-\d+\.parquet$")
TIMESTAMP = pa.timestamp("us", tz="UTC")
LOG_FIELDS: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int32(),
    "ts": TIMESTAMP,
    "model_name": pa.string(),
    "model_version": pa.string(),
    "alias": pa.string(),
    "variant": pa.string(),
    "source": pa.string(),
    "status": pa.string(),
    "error": pa.string(),
    "latency_ms": pa.float64(),
    "ood": pa.list_(pa.string()),
    "ood_count": pa.int16(),
}


def now_us() -> int:
    """Microseconds since the epoch (the `ts` value a caller may append as a plain int)."""
    return time.time_ns() // 1000


def part_name(seq: int) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"part-{stamp}-{os.getpid()}-{seq}.parquet"


def _normalise(table: pa.Table, fixed: dict[str, pa.DataType], schema: pa.Schema | None) -> pa.Table:
    """Cast the fixed columns to their types; all-null columns take the open file's type (else string)."""
    arrays, names = [], []
    for name, original in zip(table.column_names, table.columns, strict=True):
        column = original
        target = fixed.get(name)
        if target is None and schema is not None and name in schema.names:
            target = schema.field(name).type
        if target is None and pa.types.is_null(column.type):
            target = pa.string()
        if target is not None and column.type != target:
            if pa.types.is_timestamp(target) and pa.types.is_integer(column.type):
                column = column.cast(pa.int64()).cast(pa.timestamp("us")).cast(target)
            elif name in fixed:
                column = column.cast(target)
            else:  # the open part's type: when the values do not fit, the table gets a part of its own
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    column = column.cast(target)
        arrays.append(column)
        names.append(name)
    return pa.table(arrays, names=names)


@dataclass
class _Columns:
    common: dict[str, Any]
    columns: dict[str, list[Any]]
    n: int
    matrix: tuple[tuple[str, ...], np.ndarray] | None = None  # (column names, n x k float64 rows)

    def rows(self) -> list[dict[str, Any]]:
        """The same rows as one dict each."""
        columns = self.as_lists().columns
        return [{**self.common, **{key: values[i] for key, values in columns.items()}} for i in range(self.n)]

    def as_lists(self) -> _Columns:
        """The same rows with the matrix's columns as lists."""
        if self.matrix is None:
            return self
        names, rows = self.matrix
        return _Columns(
            self.common, {**self.columns, **dict(zip(names, rows.T.tolist(), strict=True))}, self.n
        )


class PartWriter:
    """Buffered, rotated, atomic Parquet parts in one folder, written by a daemon thread."""

    def __init__(
        self,
        directory: str | Path,
        *,
        fixed: dict[str, pa.DataType],
        max_bytes: int = 64 * 2**20,
        max_seconds: float = 60.0,
        interval: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fixed, self.max_bytes, self.max_seconds, self.interval = fixed, max_bytes, max_seconds, interval
        self._pending: list[pa.Table | list[dict[str, Any]] | _Columns] = []
        self._lock = threading.Lock()
        self._io = threading.Lock()  # one writer of the open part at a time (thread vs flush())
        self._wake = threading.Event()
        self._stop = False
        self._seq = 0
        self._writer: pq.ParquetWriter | None = None
        self._temp: Path | None = None
        self._opened = 0.0
        self.rows_written = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"parts-{self.directory.name}", daemon=True)
        self._thread.start()

    def append(self, rows: pa.Table | list[dict[str, Any]]) -> None:
        """Queue rows (a table or a list of row dicts); returns at once."""
        if self._stop:
            raise RuntimeError(f"the log at {self.directory} is closed")
        with self._lock:
            self._pending.append(rows)

    def append_columns(
        self,
        common: dict[str, Any],
        columns: dict[str, list[Any]],
        n: int,
        *,
        matrix: tuple[tuple[str, ...], np.ndarray] | None = None,
    ) -> None:
        """Queue `n` rows given as column lists, values shared by every row, and optionally float columns
        as one n x k numpy matrix (with their names): the cheapest form, as the request path hands over
        what it holds and the background thread builds the Arrow arrays."""
        if self._stop:
            raise RuntimeError(f"the log at {self.directory} is closed")
        with self._lock:
            self._pending.append(_Columns(common, columns, n, matrix))

    def flush(self) -> None:
        """Write everything appended so far and close the open part, so that readers see it."""
        with self._io:
            self._drain()
            self._rotate()

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._io:
                try:
                    self._drain()
                    if self._writer is not None and time.monotonic() - self._opened >= self.max_seconds:
                        self._rotate()
                except Exception:  # never lose the thread: count, log, go on with the next batch
                    self.errors += 1
                    log.exception("writing to %s failed", self.directory)

    def _take(self) -> list[pa.Table | list[dict[str, Any]] | _Columns]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def _drain(self) -> None:
        pending = self._take()
        dicts = [row for item in pending if isinstance(item, list) for row in item]
        tables = [item for item in pending if isinstance(item, pa.Table)]
        if dicts:
            tables.append(_rows_table(dicts, self.fixed))
        versions: dict[object, list[_Columns]] = {}  # versions may differ in input or prediction types
        for item in pending:
            if isinstance(item, _Columns):
                versions.setdefault(item.common.get("model_version"), []).append(item)
        for batches in versions.values():
            try:
                tables.append(self._columns_table(batches))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # rows whose values disagree in type
                tables.append(_rows_table([row for b in batches for row in b.rows()], self.fixed))
        schema = self._writer.schema if self._writer is not None else None
        tables = [_normalise(table, self.fixed, schema) for table in tables if table.num_rows]
        try:  # one table per drain: rows without inputs (errors) do not split a part
            combined = [pa.concat_tables(tables, promote_options="permissive")] if tables else []
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a new version's types: a part of its own
            combined = tables
        for table in combined:
            self._write(table)

    def _columns_table(self, batches: list[_Columns]) -> pa.Table:
        """One table of every queued request, built column by column: a shared value once per request
        (repeated by index when requests hold several rows), float matrices stacked by numpy."""
        names = {batch.matrix[0] for batch in batches if batch.matrix is not None}
        stacked = None
        if len(names) == 1 and all(batch.matrix is not None for batch in batches):
            stacked = (names.pop(), np.concatenate([batch.matrix[1] for batch in batches]))  # type: ignore[index]
        else:
            batches = [batch.as_lists() for batch in batches]
        sizes = np.fromiter((batch.n for batch in batches), np.int64, len(batches))
        repeat_index = None if (sizes == 1).all() else np.repeat(np.arange(len(batches)), sizes)
        keys = dict.fromkeys(key for batch in batches for key in (*batch.common, *batch.columns))
        arrays: dict[str, pa.Array] = {}
        for key in keys:
            kind = self.fixed.get(key)
            if all(key in batch.common and key not in batch.columns for batch in batches):
                per_request = pa.array([batch.common[key] for batch in batches], type=kind)
                arrays[key] = per_request if repeat_index is None else per_request.take(repeat_index)
            elif kind is not None and pa.types.is_list(kind) and all(key in b.columns for b in batches):
                arrays[key] = _lists([row for batch in batches for row in batch.columns[key]], kind)
            else:  # a column of some requests, a shared value of others (or absent): per row
                cells = chain.from_iterable(
                    batch.columns[key] if key in batch.columns else repeat(batch.common.get(key), batch.n)
                    for batch in batches
                )
                arrays[key] = pa.array(list(cells), type=kind)
        if stacked is not None:  # one contiguous row per column: Arrow takes it without a Python loop
            for name, values in zip(stacked[0], np.ascontiguousarray(stacked[1].T), strict=True):
                arrays[name] = pa.array(values)
        return pa.table(arrays)

    def _write(self, table: pa.Table) -> None:
        schema = self._writer.schema if self._writer is not None else None
        table = _normalise(table, self.fixed, schema)
        if schema is not None:
            try:
                table = _conform(table, schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
                self._rotate()  # new columns or types: start a new part with this table's schema
                schema = None
        if self._writer is None:
            self._seq += 1
            self._temp = self.directory / f".{part_name(self._seq)}.tmp"
            self._writer = pq.ParquetWriter(self._temp, table.schema)
            self._opened = time.monotonic()
        self._writer.write_table(table)
        self.rows_written += table.num_rows
        if self._temp is not None and self._temp.stat().st_size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        if self._writer is None or self._temp is None:
            return
        self._writer.close()
        os.replace(self._temp, self.directory / self._temp.name[1:].removesuffix(".tmp"))
        self._writer, self._temp = None, None


def _rows_table(rows: list[dict[str, Any]], fixed: dict[str, pa.DataType]) -> pa.Table:
    """A table of row dicts; a column whose values disagree in type (a number in one row, text in the next)
    is kept as text rather than losing every row of the drain."""
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    arrays: dict[str, pa.Array] = {}
    for key in dict.fromkeys(key for row in rows for key in row):
        values = [row.get(key) for row in rows]
        try:
            arrays[key] = pa.array(values, type=fixed.get(key))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[key] = pa.array([None if v is None else _text(v) for v in values], type=pa.string())
    return pa.table(arrays)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _lists(rows: list[list[Any]], kind: pa.ListType) -> pa.Array:
    """A list column from per-row lists (mostly empty: out-of-domain flags) via offsets, in one pass."""
    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum(np.fromiter((len(row) for row in rows), np.int32, len(rows)), out=offsets[1:])
    values = pa.array([value for row in rows for value in row], type=kind.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=kind)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns (missing ones null); KeyError for a column it lacks room for."""
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise KeyError(sorted(extra))
    columns = [
        table[field.name].cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.table(columns, schema=schema)


class InferenceLog(PartWriter):
    """The inference log of one model (SERVING.md): rows are dicts with the log's columns, `ts` a datetime
    or microseconds since the epoch."""

    def __init__(self, directory: str | Path, max_bytes: int = 64 * 2**20, max_seconds: float = 60.0) -> None:
        super().__init__(directory, fixed=LOG_FIELDS, max_bytes=max_bytes, max_seconds=max_seconds)


def parts(directory: str | Path) -> list[Path]:
    """The complete part files of a folder, oldest first (other names are ignored)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if PART.match(p.name)), key=lambda p: (p.name[5:20], p.name))


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def read_log(
    directory: str | Path,
    columns: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    versions: Iterable[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The log's rows as record batches, file by file: only `columns` (all when None; a requested column a
    file lacks comes back null), arrivals in [since, until), model versions among `versions`."""
    wanted = None if versions is None else pa.array([str(v) for v in versions], pa.string())
    for path in parts(directory):
        try:
            handle = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            log.warning("skipping unreadable log part %s: %s", path, exc)
            continue
        present = handle.schema_arrow.names
        filters = [c for c in ("ts", "model_version") if c in present]
        read = None if columns is None else [c for c in dict.fromkeys([*columns, *filters]) if c in present]
        for raw in handle.iter_batches(batch_size=65536, columns=read):
            batch, mask = raw, None
            if since is not None and "ts" in present:
                mask = pc.greater_equal(batch["ts"], pa.scalar(_utc(since), TIMESTAMP))
            if until is not None and "ts" in present:
                upper = pc.less(batch["ts"], pa.scalar(_utc(until), TIMESTAMP))
                mask = upper if mask is None else pc.and_(mask, upper)
            if wanted is not None and "model_version" in present:
                member = pc.is_in(batch["model_version"], value_set=wanted)
                mask = member if mask is None else pc.and_(mask, member)
            if mask is not None:
                batch = batch.filter(pc.fill_null(mask, False))
            if columns is not None:
                batch = pa.RecordBatch.from_arrays(
                    [batch[c] if c in batch.schema.names else pa.nulls(batch.num_rows) for c in columns],
                    names=list(columns),
                )
            if batch.num_rows:
                yield batch


def read_table(directory: str | Path, **options: Any) -> pa.Table | None:
    """The whole of `read_log(...)` as one table (None when empty); for small logs and tests."""
    batches = list(read_log(directory, **options))
    with contextlib.suppress(pa.ArrowInvalid):
        return pa.Table.from_batches(batches) if batches else None
    return pa.concat_tables([pa.Table.from_batches([b]) for b in batches], promote_options="permissive")
