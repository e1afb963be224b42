"""The inference log: one Parquet row per scored input row, written off the request path.

Files are ``part-<UTC yyyymmddTHHMMSS>-<pid>-<seq>.parquet`` in one folder per model. Rows are appended to
a buffer; a background thread writes them every second to a hidden Arrow IPC stream (``.part-...arrows.tmp``),
whose complete batches survive a crash. When the stream reaches `max_bytes`, is `max_seconds` old, or on
flush/close, it becomes a Parquet part (written aside, then os.replace in the same folder). Readers only see
complete parts. A writer starting on a folder first turns the streams of dead processes into parts. Layout and
columns: see the README's serving section (shared with monitoring).
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
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

log = logging.getLogger(__name__)
PART = re.compile(r"^part-\d{8}T\d{6}-\d+-\d+\.parquet$")
# A part's stream while open (.tmp, owned by the pid in the name), or claimed for recovery by another process.
STREAM = re.compile(r"^\.part-(\d{8}T\d{6}-(\d+)-\d+)\.arrows(?:\.tmp|\.(\d+)\.claim)$")
# A Parquet part being written aside (owned by the second pid), or an old footerless one (before streams).
PARQUET_TEMP = re.compile(r"^\.part-\d{8}T\d{6}-(\d+)-\d+\.parquet(?:\.(\d+))?\.tmp$")
_OURS: set[str] = set()  # this process's streams and temporaries: a restarted container may reuse a dead pid
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


# Queued rows given as columns: (common, columns, n, matrix), a plain tuple so that the garbage collector
# stops tracking it once it holds only atoms and arrays (a request's dicts of atoms are untracked from the
# start): a server queues thousands a second, and tracked ones made its full collections several times
# costlier. `common` holds the values shared by the request's rows, `columns` per-row lists, `matrix` is
# None or (column names, n x k float64 rows).
_Columns = tuple[dict[str, Any], dict[str, list[Any]], int, "tuple[tuple[str, ...], np.ndarray] | None"]


def _column_lists(item: _Columns) -> dict[str, list[Any]]:
    """The per-row columns of queued rows, the matrix's columns as lists."""
    _, columns, _, matrix = item
    if matrix is None:
        return columns
    names, rows = matrix
    return {**columns, **dict(zip(names, rows.T.tolist(), strict=True))}


def _as_rows(item: _Columns) -> list[dict[str, Any]]:
    """Queued rows as one dict each."""
    common, _, n, _ = item
    columns = _column_lists(item)
    return [{**common, **{key: values[i] for key, values in columns.items()}} for i in range(n)]


class PartWriter:
    """Buffered, rotated, atomic Parquet parts in one folder, written by a daemon thread (`max_bytes` bounds
    the open stream, uncompressed Arrow: its Parquet part is smaller)."""

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
        self._file: Any = None  # the open stream: a buffered file, its IPC writer, the path and schema
        self._writer: ipc.RecordBatchStreamWriter | None = None
        self._temp: Path | None = None
        self._schema: pa.Schema | None = None
        self._opened = 0.0
        self.rows_written = 0
        self.errors = 0
        recover(self.directory)
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
            self._pending.append((common, columns, n, matrix))

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
            if isinstance(item, tuple):
                versions.setdefault(item[0].get("model_version"), []).append(item)
        for batches in versions.values():
            try:
                tables.append(self._columns_table(batches))
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # rows whose values disagree in type
                tables.append(_rows_table([row for b in batches for row in _as_rows(b)], self.fixed))
        tables = [_normalise(table, self.fixed, self._schema) for table in tables if table.num_rows]
        try:  # one table per drain: rows without inputs (errors) do not split a part
            combined = [pa.concat_tables(tables, promote_options="permissive")] if tables else []
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a new version's types: a part of its own
            combined = tables
        for table in combined:
            self._write(table)
        if self._file is not None:  # in the OS's hands: a killed process loses nothing written (no fsync
            self._file.flush()  # per drain, a power cut may lose the last seconds; a part is fsynced)

    def _columns_table(self, batches: list[_Columns]) -> pa.Table:
        """One table of every queued request, built column by column: a shared value once per request
        (repeated by index when requests hold several rows), float matrices stacked by numpy."""
        names = {matrix[0] for *_, matrix in batches if matrix is not None}
        stacked = None
        if len(names) == 1 and all(matrix is not None for *_, matrix in batches):
            stacked = (names.pop(), np.concatenate([matrix[1] for *_, matrix in batches]))  # type: ignore[index]
        else:
            batches = [(item[0], _column_lists(item), item[2], None) for item in batches]
        sizes = np.fromiter((n for _, _, n, _ in batches), np.int64, len(batches))
        repeat_index = None if (sizes == 1).all() else np.repeat(np.arange(len(batches)), sizes)
        shared, per_row = _split_keys(batches)
        arrays: dict[str, pa.Array] = {}
        if shared:  # picked and transposed by itemgetter and zip, without a Python loop per value
            pick = itemgetter(*shared)
            picked = [pick(common) for common, _, _, _ in batches]
            for key, per_request in zip(
                shared, zip(*picked, strict=True) if len(shared) > 1 else [picked], strict=True
            ):
                array = pa.array(per_request, type=self.fixed.get(key))
                arrays[key] = array if repeat_index is None else array.take(repeat_index)
        for key in per_row:
            kind = self.fixed.get(key)
            if kind is not None and pa.types.is_list(kind) and all(key in b[1] for b in batches):
                arrays[key] = _lists([row for _, columns, _, _ in batches for row in columns[key]], kind)
            else:  # a column of some requests, a shared value of others (or absent): per row
                cells = chain.from_iterable(
                    columns[key] if key in columns else repeat(common.get(key), n)
                    for common, columns, n, _ in batches
                )
                arrays[key] = pa.array(list(cells), type=kind)
        if stacked is not None:  # one contiguous row per column: Arrow takes it without a Python loop
            for name, values in zip(stacked[0], np.ascontiguousarray(stacked[1].T), strict=True):
                arrays[name] = pa.array(values)
        return pa.table(arrays)

    def _write(self, table: pa.Table) -> None:
        schema = self._schema
        table = _normalise(table, self.fixed, schema)
        if schema is not None:
            try:
                table = _conform(table, schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
                self._rotate()  # new columns or types: start a new part with this table's schema
                schema = None
        if self._writer is None:
            self._seq += 1
            self._temp = self.directory / f".{part_name(self._seq).removesuffix('.parquet')}.arrows.tmp"
            _OURS.add(str(self._temp))
            self._file = self._temp.open("wb")
            self._writer = ipc.new_stream(self._file, table.schema)
            self._schema, self._opened = table.schema, time.monotonic()
        try:
            self._writer.write_table(table)
        except Exception:  # a torn message would hide every later batch: those go to a new stream
            self._rotate()
            raise
        self.rows_written += table.num_rows
        if self._file.tell() >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """Close the open stream and make it a part."""
        if self._writer is None or self._temp is None:
            return
        writer, file, stream = self._writer, self._file, self._temp
        self._writer, self._file, self._temp, self._schema = None, None, None, None
        try:
            with file:
                writer.close()
            _convert(stream, self.directory / f"{stream.name[1:].removesuffix('.arrows.tmp')}.parquet")
        finally:  # a stream left by a failure is recovered by the next writer started here after this process
            _OURS.discard(str(stream))


def _split_keys(batches: list[_Columns]) -> tuple[list[str], list[str]]:
    """(keys every request gives as one shared value, keys built row by row) of queued requests."""
    column_keys = dict.fromkeys(key for _, columns, _, _ in batches for key in columns)
    first = batches[0][0].keys()
    if all(common.keys() == first for common, _, _, _ in batches):  # the usual case: one code path queued all
        return [key for key in first if key not in column_keys], list(column_keys)
    common_keys = dict.fromkeys(key for common, _, _, _ in batches for key in common)
    shared = [
        key
        for key in common_keys
        if key not in column_keys and all(key in common for common, _, _, _ in batches)
    ]
    return shared, [
        *column_keys,
        *(key for key in common_keys if key not in column_keys and key not in shared),
    ]


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


def _read_stream(path: Path) -> list[pa.RecordBatch] | None:
    """The complete batches of an Arrow stream (a torn last one, from a crash mid-write, is left out); None
    when not even its schema can be read."""
    if path.stat().st_size == 0:  # created by a process killed before its first batch
        return []
    batches = []
    with pa.OSFile(str(path)) as source:
        try:
            reader = ipc.open_stream(source)
        except (OSError, pa.ArrowInvalid):
            return None
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                return batches
            except (OSError, pa.ArrowInvalid) as exc:
                log.warning("%s ends in a torn batch, left out (a crash mid-write): %s", path, exc)
                return batches


def _convert(stream: Path, part: Path) -> int | None:
    """Make the stream the Parquet part `part` (fsynced aside, then renamed into place) and delete it: the
    number of rows, None (and the stream kept) when it cannot be read."""
    batches = _read_stream(stream)
    if batches is None:
        return None
    rows = sum(batch.num_rows for batch in batches)
    if rows and not part.exists():  # it exists when its maker died between the rename and the delete
        temp = part.with_name(f".{part.name}.{os.getpid()}.tmp")
        _OURS.add(str(temp))
        try:
            with temp.open("wb") as file:
                pq.write_table(pa.Table.from_batches(batches), file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, part)
        finally:
            _OURS.discard(str(temp))
    stream.unlink()
    return rows


def _dead(pid: int, path: Path) -> bool:
    """Whether the process owning `path` is gone (a pid of ours owns it only if this process made it)."""
    if pid == os.getpid():
        return str(path) not in _OURS
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def recover(directory: Path) -> None:
    """Make parts of the streams that dead processes left in `directory`. Each is first claimed by a rename
    to a name holding this pid, so that of two writers starting at once only one converts it. A stream that
    cannot be read, and a footerless Parquet temporary of the old layout, are kept as ``*.unreadable``."""
    for path in sorted(directory.iterdir()):
        try:
            if (found := STREAM.match(path.name)) and _dead(int(found[3] or found[2]), path):
                _recover_stream(path, found[1])
            elif (found := PARQUET_TEMP.match(path.name)) and _dead(int(found[2] or found[1]), path):
                if found[2]:  # a part written aside: its stream is still there, or the part was made
                    path.unlink(missing_ok=True)
                else:
                    _unreadable(path, path.with_name(f"{path.name[1:]}.unreadable"))
        except Exception:  # one bad file must not stop the writer (nor the server) from starting
            log.exception("could not recover %s", path)


def _recover_stream(path: Path, name: str) -> None:
    claim = path.with_name(f".part-{name}.arrows.{os.getpid()}.claim")
    _OURS.add(str(claim))
    try:
        try:
            os.rename(path, claim)
        except FileNotFoundError:  # another writer claimed it first
            return
        rows = _convert(claim, path.with_name(f"part-{name}.parquet"))
        if rows is None:
            _unreadable(claim, path.with_name(f"part-{name}.arrows.unreadable"))
        else:
            log.info("recovered %d rows of %s left by a dead process", rows, path)
    finally:
        _OURS.discard(str(claim))


def _unreadable(path: Path, kept: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # another writer got there first
        os.rename(path, kept)
        log.warning("%s cannot be read (left by a process that died): kept as %s", path, kept.name)


class InferenceLog(PartWriter):
    """The inference log of one model (SERVING.md): rows are dicts with the log's columns, `ts` a datetime
    or microseconds since the epoch."""

    def __init__(self, directory: str | Path, max_bytes: int = 64 * 2**20, max_seconds: float = 60.0) -> None:
        super().__init__(directory, fixed=LOG_FIELDS, max_bytes=max_bytes, max_seconds=max_seconds)
