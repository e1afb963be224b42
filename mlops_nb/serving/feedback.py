"""Feedback on served requests: rewards (A/B tests, bandits) and ground-truth labels (monitoring), kept as
Parquet parts in ``<project>/.mlops/feedback/<model>/`` (layout in SERVING.md)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlops_nb.exceptions import UsageError
from mlops_nb.serving.inference_log import TIMESTAMP, PartWriter, now_us
from mlops_nb.serving.log_reader import parts

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd

    from mlops_nb.serving.routing import Bandit

log = logging.getLogger(__name__)

FEEDBACK_FIELDS: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int32(),
    "ts": TIMESTAMP,
    "reward": pa.float64(),
    "label": pa.string(),
}
MAX_REQUEST_ID = 200


class FeedbackError(UsageError):
    """A feedback record is malformed."""


def validate(record: Any, index: int = 0, *, unit_rewards: bool = False) -> dict[str, Any]:
    """A feedback record as stored (label JSON-encoded; a null label is no label); a FeedbackError naming
    the problem. `unit_rewards`: rewards must lie in [0, 1], as a bandit's do."""
    where = f"feedback record {index}"
    if not isinstance(record, dict):
        raise FeedbackError(f"{where} is not a JSON object.")
    unknown = set(record) - {"request_id", "row", "reward", "label"}
    if unknown:
        raise FeedbackError(
            f"{where} has unknown keys {sorted(unknown)!r}: use request_id, row, reward, label."
        )
    request_id = record.get("request_id")
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID:
        raise FeedbackError(
            f"{where} needs a request_id: a non-empty string of at most {MAX_REQUEST_ID} chars."
        )
    if record.get("reward") is None and record.get("label") is None:
        raise FeedbackError(f"{where} gives neither reward nor label (a null one counts as none).")
    row = record.get("row")
    if row is not None and (isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31):
        raise FeedbackError(f"{where}: row must be an integer from 0 to {2**31 - 1}.")
    reward = record.get("reward")
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, int | float) or not math.isfinite(reward):
            raise FeedbackError(f"{where}: reward must be a finite number.")
        reward = float(reward)
        if unit_rewards and not 0.0 <= reward <= 1.0:
            raise FeedbackError(
                f"{where}: reward {reward!r} is outside [0, 1]; this server's bandit takes 1 for a success, "
                "0 for a failure, or a fraction between.",
                hint="Scale the reward into [0, 1] before sending it.",
            )
    label = record.get("label")
    try:
        label = None if label is None else json.dumps(label, allow_nan=False)
    except (TypeError, ValueError):
        raise FeedbackError(f"{where}: label must be JSON (finite numbers, strings, lists).") from None
    return {"request_id": request_id, "row": row, "ts": now_us(), "reward": reward, "label": label}


class FeedbackStore:
    """Appends validated feedback (buffered, written off the caller's thread) and reads it back."""

    def __init__(self, directory: str | Path, *, max_seconds: float = 5.0) -> None:
        self.directory = Path(directory)
        self._writer: PartWriter | None = None
        self.max_seconds = max_seconds

    def append(
        self, records: list[dict[str, Any]] | dict[str, Any], *, unit_rewards: bool = False
    ) -> list[dict[str, Any]]:
        """Validate every record first (nothing is stored when one is bad), then queue them; the stored
        records are returned."""
        items = records if isinstance(records, list) else [records]
        if not items:
            raise FeedbackError("no feedback records given.")
        rows = [validate(record, index, unit_rewards=unit_rewards) for index, record in enumerate(items)]
        if self._writer is None:
            self._writer = PartWriter(self.directory, fixed=FEEDBACK_FIELDS, max_seconds=self.max_seconds)
        self._writer.append(pa.Table.from_pylist(rows, schema=pa.schema(FEEDBACK_FIELDS)))
        return rows

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def read(self, since: dt.datetime | None = None) -> pd.DataFrame:
        """Every stored record (this process's pending ones included), oldest first."""
        import pandas as pd
        import pyarrow.parquet as pq

        self.flush()
        tables = [pq.read_table(path) for path in parts(self.directory)]
        if not tables:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in FEEDBACK_FIELDS})
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        if since is not None:
            stamp = pd.Timestamp(since)
            frame = frame[frame["ts"] >= (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp)]
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)


class BanditCredit:
    """Rewards posted to the other workers of a server, credited to this worker's bandit: a reward reaches
    one worker, while the request it rewards may have been answered by another. Reads the feedback parts the
    other workers write (visible within their `max_seconds`), each once; those there at start are skipped."""

    def __init__(self, bandit: Bandit, directory: str | Path, interval: float = 1.0) -> None:
        self.bandit, self.directory, self.interval = bandit, Path(directory), interval
        self._seen = {path.name for path in parts(self.directory)}

    def run(self, stopped: Callable[[], bool]) -> None:
        while not stopped():
            time.sleep(self.interval)
            try:
                self.poll()
            except Exception:  # a part being replaced or unreadable: tried again next time
                log.exception("reading the other workers' rewards in %s failed", self.directory)

    def poll(self) -> int:
        """Credit the rewards of new parts of other processes; how many were this worker's requests."""
        import pyarrow.parquet as pq

        own = str(os.getpid())
        credited = 0
        for path in parts(self.directory):
            if path.name in self._seen:
                continue
            self._seen.add(path.name)
            if (
                path.name.split("-")[2] == own
            ):  # part-<stamp>-<pid>-<seq>: this worker's own, credited on arrival
                continue
            table = pq.read_table(path, columns=["request_id", "reward"])
            for request_id, reward in zip(*table.to_pydict().values(), strict=True):
                if reward is not None and self.bandit.reward(request_id, reward) is not None:
                    credited += 1
        return credited
