"""`mlops-nb score MODEL@ALIAS INPUT -o OUTPUT`: batch scoring of a CSV or Parquet file, chunk by chunk.

Memory stays bounded by the chunk size whatever the file's size: rows are read, scored and written one chunk
at a time. The output (the input's columns plus `prediction`) is written under a temporary name in the
output's folder and renamed into place when complete, so a reader never sees half a file. Each scoring is
an MLflow run of experiment `records.BATCH_EXPERIMENT` with its lineage: the model version, the input's
sha256, the output's location and the row count; the version's `records.TAG_BATCH_LAST_RUN` names it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import UsageError
from mlops_nb.serving import target as target_mod

if TYPE_CHECKING:
    import pyarrow as pa

    from mlops_nb.serving.model_source import LoadedVersion

PREDICTION = "prediction"
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_DIGEST_BLOCK = 1 << 20


@dataclass(frozen=True)
class BatchResult:
    """What a batch scoring did."""

    run_id: str
    model: str
    version: str
    input: str
    input_digest: str
    output: str
    rows: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {**asdict(self), "rows_per_second": self.rows / self.seconds if self.seconds else None}


def score(
    ref: str,
    source: str | Path,
    output: str | Path,
    *,
    chunk_rows: int = 50_000,
    progress: bool = True,
) -> BatchResult:
    """Score every row of `source` (CSV or Parquet) with the model version `ref` (MODEL@ALIAS) into `output`.

    Raises
    ------
    UsageError: an unknown file format, a missing input, an input lacking the model's columns or already
        holding a `prediction` column, a chunk size below 1.
    NotFoundError: an unknown model or alias.
    """
    source, output = Path(source).resolve(), Path(output).resolve()
    _format(source), _format(output)
    if chunk_rows < 1:
        raise UsageError(f"--chunk-rows {chunk_rows} must be at least 1.")
    if not source.is_file():
        raise UsageError(f"Input file {source} does not exist.")
    if source == output:
        raise UsageError("The output would overwrite the input.", hint="Give another -o OUTPUT.")
    if output.is_dir():
        raise UsageError(f"The output {output} is a folder.", hint="Give a file name: -o FOLDER/NAME.csv.")
    if source.stat().st_size == 0:
        raise UsageError(f"{source.name} is empty.", hint="A CSV file needs at least its header row.")
    client = store.client()
    found = target_mod.resolve(ref, client)
    with _exclusive(output):
        return _scored(client, found, source, output, chunk_rows=chunk_rows, progress=progress)


def _scored(
    client: Any,
    found: target_mod.Target,
    source: Path,
    output: Path,
    *,
    chunk_rows: int,
    progress: bool,
) -> BatchResult:
    """The scoring itself, recorded as a run (FAILED when it does not complete)."""
    from mlops_nb.serving import model_source

    in_format, out_format = _format(source), _format(output)
    digest, lines = _digest(source)
    writer = store.Writer(client)
    _fail_interrupted(client, writer, output)
    run = writer.create_run(
        store.experiment_id(records.BATCH_EXPERIMENT),
        {
            records.RUN_NAME: f"score {found.name} v{found.number}",
            records.TAG_BATCH_MODEL: f"{found.name}@{found.alias}",
            records.TAG_BATCH_MODEL_NAME: found.name,
            records.TAG_BATCH_MODEL_VERSION: found.number,
            records.TAG_BATCH_INPUT: str(source),
            records.TAG_BATCH_INPUT_DIGEST: digest,
            records.TAG_BATCH_OUTPUT: str(output),
            records.TAG_BATCH_HOST: socket.gethostname(),
        },
    )
    run_id = run.info.run_id
    started = time.perf_counter()
    try:
        model = model_source.load(found.name, found.number, client=client)
        total = _row_count(source, in_format, lines)
        rows = _score_file(
            model,
            source,
            output,
            in_format=in_format,
            out_format=out_format,
            chunk_rows=chunk_rows,
            lines=lines,
            total=total,
            progress=progress,
        )
    except BaseException as exc:
        with contextlib.suppress(Exception):
            writer.fail_run(run_id, f"{type(exc).__name__}: {exc}"[:2000])
        if isinstance(exc, OSError):
            raise UsageError(
                f"Cannot write {output} or read {source.name}: {exc.strerror or exc}.",
                hint="Check the paths and their permissions (and the free disk space).",
            ) from exc
        raise
    seconds = time.perf_counter() - started
    writer.set_tags(run_id, {records.TAG_BATCH_ROWS: rows})
    writer.log_metrics(run_id, {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds})
    writer.end_run(run_id, "FINISHED")
    writer.set_version_tags(found.name, found.number, {records.TAG_BATCH_LAST_RUN: run_id})
    return BatchResult(run_id, found.name, found.number, str(source), digest, str(output), rows, seconds)


def _fail_interrupted(client: Any, writer: store.Writer, output: Path) -> None:
    """Mark FAILED the runs of earlier scorings of `output` on this machine still RUNNING: their process was
    killed (the caller holds `output`'s lock, so none of them is alive)."""
    if "'" in str(output):  # not expressible in MLflow's filter
        return
    experiment = client.get_experiment_by_name(records.BATCH_EXPERIMENT)
    if experiment is None:
        return
    stale = client.search_runs(
        [experiment.experiment_id],
        f"attributes.status = 'RUNNING' and tags.`{records.TAG_BATCH_OUTPUT}` = '{output}' "
        f"and tags.`{records.TAG_BATCH_HOST}` = '{socket.gethostname()}'",
    )
    for run in stale:
        writer.fail_run(run.info.run_id, "Interrupted: its process ended without finishing the output.")


@contextlib.contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """Hold `output`'s lock file (removed after) for the scoring; UsageError when another scoring writes
    `output` now or its folder cannot be written."""
    import fcntl

    lock = output.with_name(f".{output.name}.lock")
    while True:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:
            raise UsageError(
                f"Cannot write {output}: {exc.strerror or exc}.", hint="Check the path and its permissions."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"Another scoring is writing {output} now.",
                hint="Wait for it to finish, or give another -o OUTPUT.",
            ) from None
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:  # not a lock file its previous holder removed meanwhile
            break
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _format(path: Path) -> str:
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(f"{path.name}: only .csv and .parquet files are supported.")
    return found


def _digest(path: Path) -> tuple[str, int]:
    """sha256 of the file's bytes and its number of newlines (the progress bar's total for a CSV)."""
    digest, lines = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while block := handle.read(_DIGEST_BLOCK):
            digest.update(block)
            lines += block.count(b"\n")
    return digest.hexdigest(), lines


def _row_count(source: Path, in_format: str, lines: int) -> int | None:
    if in_format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(source).metadata.num_rows
    return max(lines - 1, 0) or None


def _chunks(
    source: Path, in_format: str, chunk_rows: int, lines: int, types: dict[str, pa.DataType]
) -> Iterator[pa.Table]:
    """The input as Arrow tables of about `chunk_rows` rows; the signature's double and string columns read
    as such (a string column of digits is not taken for numbers); quoted values may hold newlines."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if in_format == "parquet":
        for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk_rows):
            yield _typed(pa.Table.from_batches([batch]), types, source)
        return
    size = source.stat().st_size
    block = max(int(size / max(lines, 1) * chunk_rows), 1 << 16)  # bytes holding about chunk_rows rows
    try:
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=block),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types=types),
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as exc:
        raise UsageError(
            f"{source.name}: {str(exc).strip()[:300]}", hint="Its values must fit the model's signature."
        ) from exc


def _typed(table: pa.Table, types: dict[str, pa.DataType], source: Path) -> pa.Table:
    """`table` with the signature's double and string columns cast to those types (a Parquet file's integer
    or dictionary-encoded columns), as a CSV's are read; UsageError naming a column that cannot be."""
    import pyarrow as pa

    for name, kind in types.items():
        index = table.schema.get_field_index(name)
        if index < 0 or table.schema.field(index).type == kind:
            continue
        try:
            table = table.set_column(index, name, table.column(index).cast(kind)).replace_schema_metadata(
                None  # pandas' metadata would turn the column back into its original dtype
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UsageError(
                f"{source.name}: column {name!r} cannot be read as {kind}: {str(exc).strip()[:200]}",
                hint="Its values must fit the model's signature.",
            ) from exc
    return table


def _score_file(
    model: LoadedVersion,
    source: Path,
    output: Path,
    *,
    in_format: str,
    out_format: str,
    chunk_rows: int,
    lines: int,
    total: int | None,
    progress: bool,
) -> int:
    import pyarrow as pa
    from tqdm import tqdm

    kinds = {"double": pa.float64(), "float": pa.float64(), "string": pa.string()}
    types = {c.name: kinds[c.type] for c in model.columns if c.type in kinds}
    _remove_stale(output)
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    rows = 0
    sink = _Sink(temp, out_format)
    bar = tqdm(total=total, unit="rows", disable=not progress, desc=f"{model.name} v{model.version}")
    try:
        for chunk in _chunks(source, in_format, chunk_rows, lines, types):
            if not sink.started:
                _check_columns(model, chunk.column_names, source)
            sink.write(chunk.append_column(PREDICTION, _predict(model, chunk)))
            rows += chunk.num_rows
            bar.update(chunk.num_rows)
        if not sink.started:  # no rows at all: the output still has the columns
            empty = _empty(source, in_format)
            _check_columns(model, empty.column_names, source)
            sink.write(empty.append_column(PREDICTION, _predict(model, empty)))
        sink.close()
        os.replace(temp, output)
    finally:
        bar.close()
        sink.close()
        temp.unlink(missing_ok=True)
    return rows


def _remove_stale(output: Path) -> None:
    """Delete temporary outputs left by scorings of `output` whose process is gone (killed by SIGKILL)."""
    for temp in output.parent.glob(f".{output.name}.*.tmp"):
        pid = temp.name.removeprefix(f".{output.name}.").removesuffix(".tmp")
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            temp.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            continue


def _empty(source: Path, in_format: str) -> pa.Table:
    """The input's columns without rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if in_format == "parquet":
        return pq.ParquetFile(source).schema_arrow.empty_table()
    import pandas as pd

    return pa.Table.from_pandas(pd.read_csv(source, nrows=0), preserve_index=False)


def _check_columns(model: LoadedVersion, columns: list[str], source: Path) -> None:
    missing = [name for name in model.column_names if name not in columns]
    if missing:
        raise UsageError(
            f"{source.name} lacks the model's input columns {missing}.",
            hint=f"The model reads {model.column_names}.",
        )
    if PREDICTION in columns:
        raise UsageError(
            f"{source.name} has a column {PREDICTION!r} already.", hint="Rename or drop it before scoring."
        )


def _predict(model: LoadedVersion, chunk: pa.Table) -> pa.Array:
    """Predictions of one chunk: the numpy fast path when the model has one, else MLflow's pyfunc."""
    import json

    import numpy as np
    import pyarrow as pa

    if chunk.num_rows == 0:
        return pa.nulls(0, pa.float64())
    if model.fast is not None:
        try:
            matrix = np.column_stack(
                [chunk.column(name).to_numpy().astype(np.float64) for name in model.column_names]
            )
        except (TypeError, ValueError, pa.ArrowException):  # not numbers: pyfunc's check says what is wrong
            matrix = None
        if matrix is not None and not np.isnan(matrix).any():
            return pa.array(np.asarray(model.predict_matrix(matrix)))
    try:
        predicted = model.predict_frame(chunk.to_pandas())
    except Exception as exc:
        text = [line.strip() for line in str(exc).splitlines() if line.strip()]
        lines = [line for line in text if "Error" in line or "error" in line] or text[:1]
        reason = (lines or [type(exc).__name__])[-1].split("Error: ")[-1]  # not MLflow's repeat of the data
        raise UsageError(
            f"The model refused rows of the input: {reason[:400]}",
            hint="The input's columns and types must match the model's signature.",
        ) from exc
    values = np.asarray(predicted)
    if values.ndim > 1:
        return pa.array([json.dumps(row) for row in values.tolist()])
    return pa.array(values)


class _Sink:
    """Arrow tables appended to a CSV or Parquet file, each cast to the first one's schema."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self.writer: Any = None
        self.schema: pa.Schema | None = None
        self.started = False

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        if self.writer is None:
            self.schema = table.schema
            self.writer = (
                pcsv.CSVWriter(self.path, self.schema)
                if self.fmt == "csv"
                else pq.ParquetWriter(self.path, self.schema)
            )
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self.writer.write_table(table)
        self.started = True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def render(result: BatchResult) -> str:
    """The readable summary."""
    speed = f"{result.rows / result.seconds:,.0f} rows/s" if result.seconds else ""
    return (
        f"scored {result.rows:,} rows of {result.input} with {result.model} v{result.version} "
        f"in {result.seconds:.1f} s ({speed})\n  output: {result.output}\n  run: {result.run_id}"
    )
