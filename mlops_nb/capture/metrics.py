"""Buffered metric writer: the caller appends points; a background thread writes them in batches.

Points the store does not accept are appended to a spool file (JSON lines) and written again, oldest
first, when the store answers; ``flush()`` returns once every point is either stored or spooled.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_nb import store
from mlops_nb.exceptions import UsageError

if TYPE_CHECKING:
    from mlflow import MlflowClient

BATCH = 1000  # MLflow's log_batch limit for metrics
Point = tuple[str, float, int, int]  # key, value, timestamp (ms), step


@dataclass
class WriterStats:
    """Counts of a writer's points."""

    written: int = 0
    spooled: int = 0
    pending: int = 0
    last_error: str | None = None


def _as_point_value(key: object, value: object) -> float:
    if not isinstance(key, str) or not key:
        raise UsageError(f"Metric names must be non-empty strings, got {key!r}.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(
            f"Metric {key!r} has value {value!r} of type {type(value).__name__}; metrics must be numbers.",
            hint="Log text as a tag or artifact instead.",
        ) from None
    return number


class MetricWriter:
    """Writes one run's metric points off the caller's thread."""

    def __init__(self, client: MlflowClient, run_id: str, spool: Path, interval: float = 0.5) -> None:
        self._client = client
        self._run_id = run_id
        self._spool = spool
        self._interval = interval
        self._pending: list[Point] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._inflight: list[Point] = []
        self._closed = False
        self.stats = WriterStats(spooled=self._spooled_count())
        self._thread = threading.Thread(target=self._loop, name=f"mlops-nb-metrics-{run_id[:8]}", daemon=True)
        self._thread.start()

    def add(self, metrics: Mapping[str, object], step: int | None = None) -> None:
        """Queue points; raises UsageError for non-numeric values before anything is queued."""
        if self._closed:
            raise UsageError("This run was stopped; metrics can no longer be logged to it.", hint="Run `%mlops track`.")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise UsageError(f"step must be an integer, got {step!r}.")
        now = int(time.time() * 1000)
        step = step or 0
        points = [(key, _as_point_value(key, value), now, step) for key, value in metrics.items()]
        with self._lock:
            self._pending.extend(points)
            if len(self._pending) >= BATCH:
                self._wake.set()

    def flush(self, timeout: float | None = 60.0) -> WriterStats:
        """Write (or spool) everything queued so far; returns the counts."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._pending or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._wake.set()
                self._idle.wait(timeout=0.05 if remaining is None else min(remaining, 0.05))
            self.stats.pending = len(self._pending)
        return self.stats

    def close(self, timeout: float | None = 60.0) -> WriterStats:
        """Flush, then stop the thread; points that could not be written stay in the spool file."""
        stats = self.flush(timeout)
        with self._lock:
            self._closed = True
            stranded = self._inflight + self._pending if self._busy else self._pending
            if stranded:  # the store did not answer within the timeout: keep the points on disk
                self._append_spool(stranded)
                self._pending, self._inflight = [], []
        self._wake.set()
        self._thread.join(timeout=5)
        return stats

    # background thread

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, []
                self._inflight = batch
                self._busy = True
                closed = self._closed
            try:
                self._drain_spool()
                if batch:
                    self._write_or_spool(batch)
            finally:
                with self._idle:
                    self._busy = False
                    self._inflight = []
                    self._idle.notify_all()
            if closed:
                return

    def _write(self, points: list[Point]) -> int:
        """Write in batches; returns how many points were written before the first failure (all on success)."""
        from mlflow.entities import Metric

        for start in range(0, len(points), BATCH):
            chunk = [Metric(k, v, t, s) for k, v, t, s in points[start : start + BATCH]]
            try:
                store.retrying(lambda chunk=chunk: self._client.log_batch(self._run_id, metrics=chunk, synchronous=True))
            except Exception as exc:
                self.stats.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return start
            self.stats.written += len(chunk)
        return len(points)

    def _write_or_spool(self, points: list[Point]) -> None:
        if self.stats.spooled:  # keep order: older spooled points go first
            self._append_spool(points)
            return
        done = self._write(points)
        if done < len(points):
            self._append_spool(points[done:])

    def _append_spool(self, points: list[Point]) -> None:
        self._spool.parent.mkdir(parents=True, exist_ok=True)
        with self._spool.open("a", encoding="utf-8") as handle:
            for point in points:
                handle.write(json.dumps(point) + "\n")
        self.stats.spooled += len(points)

    def _spooled_count(self) -> int:
        if not self._spool.exists():
            return 0
        with self._spool.open(encoding="utf-8") as handle:
            return sum(1 for _ in handle)

    def _drain_spool(self) -> None:
        if not self.stats.spooled or not self._spool.exists():
            return
        lines = self._spool.read_text(encoding="utf-8").splitlines()
        points: list[Point] = [tuple(json.loads(line)) for line in lines if line.strip()]  # type: ignore[misc]
        done = self._write(points)
        if done < len(points):
            rest = points[done:]
            self._spool.write_text("".join(json.dumps(p) + "\n" for p in rest), encoding="utf-8")
            self.stats.spooled = len(rest)
            return
        self._spool.unlink()
        self.stats.spooled = 0
        self.stats.last_error = None


def replay_spool(client: MlflowClient, spool: Path) -> int:
    """Write the points of a spool file left by an earlier session (its run id is the file name); returns how many."""
    writer = MetricWriter(client, spool.stem, spool)
    stats = writer.close(timeout=30)
    return 0 if stats.spooled else stats.written
