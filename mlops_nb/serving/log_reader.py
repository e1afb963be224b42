"""Reading the inference log and the feedback store: only their complete Parquet parts (layout in
inference_log.py), by columns and by time and model version."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlops_nb.serving.inference_log import PART, TIMESTAMP

log = logging.getLogger(__name__)


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
