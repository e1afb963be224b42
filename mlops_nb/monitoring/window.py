"""The window of the inference log a pass reads: where the log and feedback of a model live, the window's
time range, and its span read off the Parquet footers. The rows themselves are read by columns and in
chunks by ``serving.log_reader.read_log``, so memory stays bounded whatever the log's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_nb import config
from mlops_nb.exceptions import NotFoundError, UsageError

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
    if last and since:
        raise UsageError("Give --window or --since, not both.")
    now = now or datetime.now(UTC)
    if last:
        from mlops_nb.scheduling.triggers import parse_duration

        return Window(now - timedelta(seconds=parse_duration(last)), now)
    if since:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise UsageError(
                f"--since {since!r} is not a time.", hint="Give ISO 8601, e.g. 2026-01-31T12:00 (UTC)."
            ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if moment >= now:
            raise UsageError(
                f"--since {since!r} is in the future ({now.isoformat()} now): the window holds no row.",
                hint="Give a time in the past, or --window DURATION.",
            )
        return Window(moment, now)
    return Window(None, now)


def time_range(files: Sequence[Path], frame: Window) -> tuple[datetime, datetime] | None:
    """The first and last `ts` within the window, from the parts' row-group statistics (no data read)."""
    import pyarrow.parquet as pq

    low = high = None
    for path in files:
        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, ValueError):  # an unreadable part: read_log skips it too, with a warning
            continue
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


def feedback(model: str, settings: config.Settings | None = None) -> Any:
    """The feedback of `model`: request_id, row (None: every row), label (parsed JSON, None when not given)
    and reward; per request and row the latest label and the latest reward win (a reward sent after a label
    does not erase it, nor a label a reward). A pandas DataFrame, maybe empty."""
    import json

    import pandas as pd

    from mlops_nb.serving.feedback import FeedbackStore

    data = FeedbackStore(feedback_directory(model, settings)).read()
    if data.empty:
        return pd.DataFrame({"request_id": [], "row": [], "label": [], "reward": []})
    data = data.sort_values("ts", kind="stable")
    keys = pd.DataFrame(
        {"request_id": data["request_id"].astype(str).to_numpy(), "row": data["row"].to_numpy()}
    )
    texts = [text if isinstance(text, str) else None for text in data["label"]]
    values = [None if text is None else json.loads(text) for text in texts]
    given = [value is not None for value in values]  # JSON null: no label
    labels = keys[given].assign(
        label=pd.Series([v for v in values if v is not None], dtype=object).to_numpy()
    )
    rewards = keys.assign(reward=data["reward"].to_numpy(dtype=float, na_value=float("nan")))
    rewards = rewards[rewards["reward"].notna()]
    last = {"subset": ["request_id", "row"], "keep": "last"}
    merged = labels.drop_duplicates(**last).merge(
        rewards.drop_duplicates(**last), how="outer", on=["request_id", "row"]
    )
    merged["label"] = merged["label"].astype(object).where(merged["label"].notna(), None)
    return merged[["request_id", "row", "label", "reward"]].reset_index(drop=True)


def require_log(files: Sequence[Path], directory: Path, model: str) -> None:
    """A NotFoundError naming the folder when the model has no inference log."""
    if not files:
        raise NotFoundError(
            f"No inference log for {model!r} in {directory}.",
            hint="Serve the model (mlops-nb serve) so that requests are logged, or point --log-dir at its log.",
        )
