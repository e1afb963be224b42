"""Buffered metric writer: the caller appends points; a background thread writes them in batches.

Points the store does not accept are appended to the run's spool file (see ``spool``) and written again,
oldest first, when the store answers; ``flush()`` returns once every point is either stored or spooled.
A spool error (a full disk, a permission) keeps the points in memory and retries them, with a warning.
On the embedded SQLite store, batches go straight into MLflow's ``metrics`` and ``latest_metrics``
tables in one transaction (with MLflow's value rules), which is ~20x faster than ``log_batch``'s ORM path;
on any other store they go through ``MlflowClient.log_batch``.
"""

from __future__ import annotations

import numbers
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_nb import config, mlflow_internals, store
from mlops_nb.capture.spool import BATCH, Point, Sink, Spool, write
from mlops_nb.exceptions import StoreError, UsageError

if TYPE_CHECKING:
    from mlflow import MlflowClient

OWNER_WAIT = 30.0  # seconds a new writer waits for another process to give up the run's spool
SINK_WAIT = 10.0  # seconds a write may take before its points are spooled (MLflow retries for minutes)
_VALID_KEY = re.compile(r"^[/\w.\- :]{1,250}$")  # MLflow's rule for metric and param names


def sink_for(settings: config.Settings, client: MlflowClient, run_id: str) -> Sink:
    """The fastest correct way to write metric points of `run_id` into the project's store: straight into
    the embedded store's tables, or through the write gateway."""
    if settings.embedded:
        return mlflow_internals.sqlite_metric_sink(mlflow_internals.database(settings), run_id)
    from mlflow.entities import Metric

    gateway = store.Writer(client)
    return lambda points: gateway.log_metric_points(run_id, [Metric(k, v, t, s) for k, v, t, s in points])


@dataclass
class WriterStats:
    """Counts of a writer's points."""

    written: int = 0
    spooled: int = 0
    pending: int = 0
    last_error: str | None = None


KEY_RULE = "Use up to 250 letters, digits, and _ - . space : / (no '..', no leading '/')."


def valid_key(key: object) -> bool:
    """Whether `key` is a name MLflow accepts for a metric or a param."""
    return (
        isinstance(key, str) and bool(_VALID_KEY.match(key)) and ".." not in key and not key.startswith("/")
    )


def _as_point_value(key: object, value: object, known: set[str]) -> float:
    if key not in known:
        if not valid_key(key):
            raise UsageError(f"Invalid metric name {key!r}.", hint=KEY_RULE)
        known.add(key)
    try:
        if isinstance(value, (str, bytes)):  # float("0.5") would take text that only looks like a number
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(
            f"Metric {key!r} has value {value!r} of type {type(value).__name__}; metrics must be numbers.",
            hint="Log text as a tag or artifact instead.",
        ) from None
    return number


class MetricWriter:
    """Writes one run's metric points off the caller's thread; owns the run's spool file while it lives."""

    def __init__(self, sink: Sink, spool: Path, interval: float = 0.5) -> None:
        self._sink = sink
        self._keys: set[str] = set()
        self.spool = spool
        self._spool = Spool(spool)
        if not self._spool.own(wait=OWNER_WAIT):
            raise StoreError(
                f"The metric spool {spool} is owned by another live process (pid {self._spool.owner()}).",
                hint="Stop the other kernel or process tracking this run, then track it again.",
            )
        self._interval = interval
        self._pending: list[Point] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        self._inflight: list[Point] = []
        self._rounds = 0
        self._kept_round = -1  # the last round that ended with points neither stored nor spooled
        self._warned: str | None = None
        self._closed = False
        self._call: threading.Thread | None = None  # the write in progress (see `_write`)
        self.stats = WriterStats(spooled=self._spool.count())
        self._thread = threading.Thread(
            target=self._loop, name=f"mlops-nb-metrics-{spool.stem[:8]}", daemon=True
        )
        self._thread.start()

    def add(self, metrics: Mapping[str, object], step: int | None = None) -> None:
        """Queue points; raises UsageError for non-numeric values before anything is queued."""
        if self._closed:
            raise UsageError(
                "This run was stopped; metrics can no longer be logged to it.", hint="Run `%mlops track`."
            )
        if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
            raise UsageError(f"step must be an integer, got {step!r}.")
        now = int(time.time() * 1000)
        step = int(step or 0)  # numpy integers too
        points = [(key, _as_point_value(key, value, self._keys), now, step) for key, value in metrics.items()]
        with self._lock:
            self._pending.extend(points)
            if len(self._pending) >= BATCH:
                self._wake.set()

    @property
    def pending(self) -> int:
        """Points not yet stored nor spooled: queued, being written, or kept in memory after a spool error."""
        with self._lock:
            return len(self._pending) + len(self._inflight)

    def flush(self, timeout: float | None = 60.0) -> WriterStats:
        """Write (or spool) everything queued so far; returns the counts. Returns early when the points can
        be neither stored nor spooled (they stay queued and are retried; see ``stats.pending``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            start = self._rounds
            while (self._pending or self._busy) and self._kept_round <= start and self._thread.is_alive():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._wake.set()
                self._idle.wait(timeout=0.05 if remaining is None else min(remaining, 0.05))
            self.stats.pending = len(self._pending) + len(self._inflight)
        return self.stats

    def close(self, timeout: float | None = 60.0) -> WriterStats:
        """Flush, then stop the thread and give up the spool; points that could not be written stay in it."""
        stats = self.flush(timeout)
        with self._lock:
            self._closed = True
            stuck = self._busy  # on a store that does not answer: nothing to wait for
            stranded = self._inflight + self._pending if stuck else self._pending
            self._pending, self._inflight = [], []
            if stranded:  # the store did not take them within the timeout: keep them on disk
                try:
                    self._append_spool(stranded)
                    stats.pending = 0
                except Exception as exc:
                    stats.pending = len(stranded)
                    self._warn(f"{len(stranded)} metric point(s) could be neither written nor spooled", exc)
        self._wake.set()
        if not stuck:
            self._thread.join(timeout=5)
        with self._lock:
            self._spool.release()
        return stats

    # background thread

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._lock:
                self._inflight, self._pending = self._pending, []
                self._busy = True
                closed = self._closed
            failed = False
            try:
                self._drain_spool()
                self._write_or_spool()
            except Exception as exc:  # a full disk, a permission, a bug: keep the points and try again
                failed = True
                self._warn("Metric points could not be spooled; they are kept in memory and retried", exc)
            finally:
                with self._idle:
                    self._rounds += 1
                    if self._inflight:
                        self._pending[:0] = self._inflight
                        self._kept_round = self._rounds
                    self._inflight = []
                    self._busy = False
                    if not failed:
                        self._warned = None
                    self._idle.notify_all()
            if closed:
                return

    def _warn(self, what: str, exc: Exception) -> None:
        """Report a spool problem once (until a round succeeds again), in ``stats.last_error`` too."""
        message = f"{what}: {self.spool}: {type(exc).__name__}: {_first_line(exc)}"
        self.stats.last_error = message
        if message != self._warned:
            self._warned = message
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    def _write(self, points: list[Point]) -> int:
        """Write in batches; returns how many points were written before the first failure (all on success).

        A write the store holds for longer than SINK_WAIT (MLflow's own retries with backoff last minutes)
        counts as failed, so its points go to the spool on disk instead of waiting in memory, where a kill
        would lose them; no other write starts while it hangs. Should it store them after all, the spool's
        copies are stored once: MLflow ignores a point identical to one it holds."""
        if self._call is not None and self._call.is_alive():
            self.stats.last_error = "the store has not answered an earlier write yet"
            return 0
        result: list[tuple[int, Exception | None]] = []
        self._call = threading.Thread(
            target=lambda: result.append(write(self._sink, points)), name="mlops-nb-metrics-call", daemon=True
        )
        self._call.start()
        self._call.join(SINK_WAIT)
        if not result:
            self.stats.last_error = f"the store did not answer within {SINK_WAIT:g} s"
            return 0
        done, error = result[0]
        self.stats.written += done
        if error is not None:
            self.stats.last_error = _first_line(error) or type(error).__name__
        return done

    def _write_or_spool(self) -> None:
        """Write the points in flight, or spool them; the ones neither written nor spooled stay in flight."""
        with self._lock:
            points = list(self._inflight)
        if not points:
            return
        done = 0 if self.stats.spooled else self._write(points)  # keep order: older spooled points go first
        with self._lock:  # close() may have spooled the points in flight already: then there are none
            del self._inflight[:done]
            if self._inflight:
                self._append_spool(self._inflight)
                self._inflight = []

    def _append_spool(self, points: list[Point]) -> None:
        self._spool.append(points)
        self.stats.spooled += len(points)

    def _drain_spool(self) -> None:
        if not self.stats.spooled:
            return
        with self._lock:
            points, size = self._spool.read()
        done = self._write(points)
        with self._lock:  # close() may have appended points meanwhile: rewrite() keeps them
            if points and not done:  # the store took nothing: the file stays as it is
                return
            if not self._spool.owned:  # close() gave the spool up while the store was slow: leave it
                return
            self.stats.spooled = self._spool.rewrite(points[done:], since=size)
            if not self.stats.spooled:
                self.stats.last_error = None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""
