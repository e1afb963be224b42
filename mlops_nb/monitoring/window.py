"""The window of the inference log a pass reads: its time range, and the log read by columns and in chunks
(Parquet files ``part-*.parquet``, the format of docs SERVING.md), so memory stays bounded whatever the size.

Also the feedback a pass joins by request id (``.mlops/feedback/<model>/part-*.parquet``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_nb import config
from mlops_nb.exceptions import NotFoundError, UsageError

BATCH_ROWS = 65_536
_PART = re.compile(r"part-.*\.parquet")
INPUT_PREFIX = "in."


def log_directory(
    model: str, settings: config.Settings | None = None, log_dir: str | Path | None = None
) -> Path:
    """Where the inference log of `model` lives (``<project>/.mlops/inference/<model>/`` by default)."""
    if log_dir is not None:
        return Path(log_dir)
    settings = settings or config.current()
    return settings.state_dir / "inference" / model


def feedback_directory(model: str, settings: config.Settings | None = None) -> Path:
    """Where the feedback of `model` lives (``<project>/.mlops/feedback/<model>/``)."""
    settings = settings or config.current()
    return settings.state_dir / "feedback" / model


def parts(directory: Path) -> list[Path]:
    """The finished Parquet parts of a log folder (temporary files of a writer are left out), by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _PART.fullmatch(p.name) and p.is_file())


@dataclass(frozen=True)
class Window:
    """A time range [since, until) in UTC; None: open on that side."""

    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> str:
        """``2026-01-01T00:00:00+00:00 .. now``."""
        since = self.since.isoformat() if self.since else "the start of the log"
        return f"{since} .. {self.until.isoformat() if self.until else 'now'}"


def window(last: str | None = None, since: str | None = None, now: datetime | None = None) -> Window:
    """The window of ``--window 1h`` (the last hour) or ``--since T`` (ISO 8601; naive is UTC); neither: all."""
    from mlops_nb.scheduling.triggers import parse_duration

    if last and since:
        raise UsageError("Give --window or --since, not both.")
    now = now or datetime.now(UTC)
    if last:
        return Window(now - timedelta(seconds=parse_duration(last)), now)
    if since:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise UsageError(
                f"--since {since!r} is not a time.", hint="Give ISO 8601, e.g. 2026-01-31T12:00 (UTC)."
            ) from None
        return Window(moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC), now)
    return Window(None, now)


def schema(files: Sequence[Path]) -> Any:
    """The unified Arrow schema of the log's parts (read from their footers only)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not files:
        return pa.schema([])
    return pa.unify_schemas([pq.read_schema(path) for path in files], promote_options="permissive")


def time_range(files: Sequence[Path], frame: Window) -> tuple[datetime, datetime] | None:
    """The first and last `ts` within the window, from the parts' row-group statistics (no data read)."""
    import pyarrow.parquet as pq

    low = high = None
    for path in files:
        meta = pq.ParquetFile(path).metadata
        index = meta.schema.to_arrow_schema().get_field_index("ts")
        for group in range(meta.num_row_groups):
            column = meta.row_group(group).column(index) if index >= 0 else None
            stats = column.statistics if column is not None else None
            if stats is None or not stats.has_min_max or meta.row_group(group).num_rows == 0:
                continue
            first, last = _aware(stats.min), _aware(stats.max)
            low = first if low is None else min(low, first)
            high = last if high is None else max(high, last)
    if low is None or high is None:
        return None
    low = max(low, frame.since) if frame.since else low
    high = min(high, frame.until) if frame.until else high
    return (low, high) if low <= high else None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def batches(
    files: Sequence[Path],
    columns: Sequence[str],
    frame: Window,
    *,
    versions: Sequence[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[Any]:
    """The log's rows within `frame` (and of `versions`), `columns` only, as Arrow record batches of at
    most `batch_rows` rows; a column a part lacks reads as nulls."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    if not files:
        return
    unified = schema(files)
    wanted = [name for name in dict.fromkeys(columns) if unified.get_field_index(name) >= 0]
    condition = None
    ts = pc.field("ts")
    for part in (
        ts >= frame.since if frame.since else None,
        ts < frame.until if frame.until else None,
        pc.field("model_version").isin(list(versions)) if versions is not None else None,
    ):
        if part is not None:
            condition = part if condition is None else condition & part
    dataset = ds.dataset([str(path) for path in files], schema=unified, format="parquet")
    yield from dataset.to_batches(columns=wanted, filter=condition, batch_size=batch_rows, use_threads=True)


def feedback(model: str, settings: config.Settings | None = None) -> Any:
    """The labels fed back for `model` (request_id, row, label as parsed JSON), later feedback of the same
    request and row winning; a pandas DataFrame (empty when there is none)."""
    import json

    import pandas as pd
    import pyarrow.dataset as ds

    files = parts(feedback_directory(model, settings))
    empty = pd.DataFrame({"request_id": [], "row": [], "label": []})
    if not files:
        return empty
    dataset = ds.dataset([str(path) for path in files], schema=schema(files), format="parquet")
    table = dataset.to_table(
        columns=["request_id", "row", "ts", "label"], filter=ds.field("label").is_valid()
    )
    data = table.to_pandas()
    if data.empty:
        return empty
    data = data.sort_values("ts", kind="stable").drop_duplicates(["request_id", "row"], keep="last")
    data["label"] = [json.loads(text) for text in data["label"]]
    return data[["request_id", "row", "label"]].reset_index(drop=True)


def require_log(files: Sequence[Path], directory: Path, model: str) -> None:
    """A NotFoundError naming the folder when the model has no inference log."""
    if not files:
        raise NotFoundError(
            f"No inference log for {model!r} in {directory}.",
            hint="Serve the model (mlops-nb serve) so that requests are logged, or point --log-dir at its log.",
        )
