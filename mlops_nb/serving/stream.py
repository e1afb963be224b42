"""`mlops-nb stream MODEL@ALIAS --source URL --sink URL [--group G]`: score a stream, exactly once.

A loop of micro-batches: read up to `batch_size` events (serving/streams.py), score them in one call, write
each prediction to the sink (carrying the source event's id; an event already written is skipped there, in
the same atomic step), append the new ones to the inference log (source "stream"), then acknowledge the
batch. A consumer killed at any point leaves its events pending; restarted, it (or another consumer of the
group, after `claim_idle_ms`) scores them again and the sink's de-duplication keeps one prediction per event.

An event is either one field per input column or one field `record` holding a JSON object; one that cannot be
scored (bad JSON, a missing column, a value of the wrong type) gets a sink entry with `error` instead of
`prediction`, so it never blocks the stream. The alias is polled every `poll_seconds`; a new version is
loaded and warmed beside the old one and used from the next batch (one that fails to load is not used).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import StreamUnavailableError, UsageError
from mlops_nb.serving import target as target_mod
from mlops_nb.serving.ood import DomainCheck
from mlops_nb.serving.options import model_folder
from mlops_nb.serving.streams import Event, Result, Sink, Source, open_sink, open_source, same_stream

if TYPE_CHECKING:
    from mlops_nb.serving.model_source import LoadedVersion

log = logging.getLogger(__name__)
RECORD_FIELD = "record"
MAX_BLOCK_MS = 10_000  # well under the Redis connection's 30 s socket timeout


@dataclass(frozen=True)
class StreamOptions:
    """How the consumer reads, scores and logs."""

    group: str = "mlops-nb"
    consumer: str | None = None  # default: the host name (a restart under it resumes its pending events)
    batch_size: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    poll_seconds: float = 5.0
    log_dir: str | Path | None = None


@dataclass
class StreamStats:
    """What a consumer did until it stopped."""

    scored: int = 0
    errors: int = 0
    duplicates: int = 0
    batches: int = 0
    outages: int = 0
    versions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The stats as JSON-ready data."""
        return asdict(self)


class Consumer:
    """One consumer of the group: `step()` scores one micro-batch; `run()` loops until stopped."""

    def __init__(self, ref: str, source: Source, sink: Sink, options: StreamOptions) -> None:
        from mlops_nb.serving import inference_log, model_source

        self.name, self.alias = target_mod.parse(ref)
        self.source, self.sink, self.options = source, sink, options
        self.client = store.client()
        version = model_source.resolve(self.name, self.alias, client=self.client)
        self.model = model_source.load(self.name, version, client=self.client)
        folder = options.log_dir or model_folder(records.STATE_INFERENCE_DIR, self.name)
        self.log = inference_log.InferenceLog(folder)
        self.domain = DomainCheck.from_reference(self.model.reference)
        self.stats = StreamStats(versions=[self.model.version])
        self._next_poll = time.monotonic() + options.poll_seconds
        self.stopping = False

    def run(self) -> StreamStats:
        """Score micro-batches until `stopping` is set (SIGTERM, SIGINT); then flush the log."""
        started = time.monotonic()
        try:
            while not self.stopping:
                try:
                    self.step()
                except StreamUnavailableError as exc:
                    self._wait_for_server(exc)
        finally:
            self.log.close()
            self.source.close()
            self.sink.close()
            self.stats.seconds = time.monotonic() - started
        return self.stats

    def _wait_for_server(self, exc: StreamUnavailableError) -> None:
        """Wait (until stopped) for the source and sink to answer again; the interrupted batch's events stay
        pending and are read first once they do, and the sink's de-duplication keeps what was written."""
        log.warning("%s; waiting for it to come back", exc)
        self.stats.outages += 1
        delay = 0.1
        while not self.stopping and not (self.sink.available() and self.source.available()):
            time.sleep(delay)  # a backoff, not a synchronisation
            delay = min(delay * 2, 5.0)
        if not self.stopping:
            log.warning("the stream's server answers again: resuming")

    def step(self) -> int:
        """Read, score, write and acknowledge one micro-batch; the number of events it held."""
        self._follow_alias()
        events = self.source.read(self.options.batch_size, self.options.block_ms)
        if not events:
            return 0
        arrived = time.time_ns() // 1000
        started = time.perf_counter()
        model = self.model
        results, rows, values = self._score(model, [e for e in events if e.fields is not None])
        written = self.sink.write(results, self.source.name)
        latency = (time.perf_counter() - started) * 1000
        new = [result for result in results if result.id in written]
        ood = self._ood([rows.get(result.id) for result in new])
        self.log.append(
            [
                _log_row(
                    model,
                    self.alias,
                    result,
                    rows.get(result.id),
                    values.get(result.id),
                    ts=arrived,
                    latency=latency,
                    ood=flags,
                )
                for result, flags in zip(new, ood, strict=True)
            ]
        )
        acknowledged = [event.id for event in events]
        self.source.ack(acknowledged)
        self.sink.settle(acknowledged, self.source.name)
        self.stats.batches += 1
        self.stats.scored += sum(1 for r in results if r.id in written and r.error is None)
        self.stats.errors += sum(1 for r in results if r.id in written and r.error is not None)
        self.stats.duplicates += len(results) - len(written)
        return len(events)

    def _score(
        self, model: LoadedVersion, events: list[Event]
    ) -> tuple[list[Result], dict[str, dict], dict[str, Any]]:
        """A result per event (the batch scored in one call, or event by event when the batch fails), the
        events' input rows and their predictions as the model gave them."""
        rows: dict[str, dict[str, Any]] = {}
        results: dict[str, Result] = {}
        values: dict[str, Any] = {}
        for event in events:
            try:
                rows[event.id] = _row(model, event.fields or {})
            except ValueError as exc:
                results[event.id] = Result(event.id, None, model.version, str(exc))
        good = [event.id for event in events if event.id in rows]
        predictions = _predict(model, [rows[i] for i in good]) if good else []
        if predictions is None:  # one bad row spoils a batch call: find it
            predictions = []
            for event_id in good:
                single = _predict(model, [rows[event_id]])
                predictions.append(single[0] if single else _Failure(model, rows[event_id]))
        for event_id, value in zip(good, predictions, strict=True):
            if isinstance(value, _Failure):
                results[event_id] = Result(event_id, None, model.version, value.message)
            else:
                results[event_id] = Result(event_id, _text(value), model.version)
                values[event_id] = value
        return [results[e.id] for e in events], rows, values

    def _ood(self, rows: list[dict[str, Any] | None]) -> list[list[str]]:
        """The out-of-domain columns of each row (none for a row that could not be read)."""
        if self.domain.empty:
            return [[] for _ in rows]
        columns = {name: [(row or {}).get(name) for row in rows] for name in self.model.column_names}
        return self.domain.flags(columns, len(rows))

    def _follow_alias(self) -> None:
        from mlops_nb.serving import model_source

        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self.options.poll_seconds
        try:
            version = model_source.resolve(self.name, self.alias, client=self.client)
            if version == self.model.version:
                return
            model = model_source.load(self.name, version, client=self.client)  # loaded and warmed
            self.model, self.domain = model, DomainCheck.from_reference(model.reference)
        except Exception as exc:  # keep scoring with the version that works
            log.warning("%s@%s: staying on version %s: %s", self.name, self.alias, self.model.version, exc)
            return
        self.stats.versions.append(self.model.version)
        log.warning("%s@%s: now scoring with version %s", self.name, self.alias, self.model.version)


class _Failure:
    def __init__(self, model: LoadedVersion, row: dict[str, Any]) -> None:
        try:
            model.predict_frame(_frame(model, [row]))
            self.message = "the model failed on this event"
        except Exception as exc:
            lines = [line.strip() for line in str(exc).splitlines() if "rror" in line]
            self.message = (lines or [type(exc).__name__])[-1][:300]


def _row(model: LoadedVersion, fields: dict[str, str]) -> dict[str, Any]:
    """The event's input row, typed by the signature; ValueError naming what is wrong. A `record` field is
    the row when no other field names an input column (other fields, e.g. a trace id, are left aside)."""
    if (
        RECORD_FIELD in fields
        and RECORD_FIELD not in model.column_names
        and not set(fields) & set(model.column_names)
    ):
        try:
            raw = json.loads(fields[RECORD_FIELD])
        except ValueError as exc:
            raise ValueError(f"field 'record' is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("field 'record' must hold a JSON object of column -> value")
    else:
        raw = fields
    row: dict[str, Any] = {}
    for column in model.columns:
        if column.name not in raw or raw[column.name] in (None, ""):
            if column.required:
                raise ValueError(f"missing input column {column.name!r}")
            row[column.name] = None
            continue
        row[column.name] = _typed(column.name, column.type, raw[column.name])
    return row if model.columns else dict(raw)


def _typed(name: str, kind: str, value: Any) -> Any:
    try:
        if kind in ("double", "float"):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind in ("long", "integer"):
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        if kind == "boolean":
            text = str(value).lower()
            if text not in ("true", "false", "1", "0"):
                raise ValueError
            return text in ("true", "1")
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"column {name!r} must be {kind}, not {str(value)[:40]!r}") from None
    return str(value)


def _frame(model: LoadedVersion, rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=model.column_names or None)
    for column in model.columns:
        if column.type in ("long", "integer") and frame[column.name].notna().all():
            frame[column.name] = frame[column.name].astype("int64")
    return frame


def _predict(model: LoadedVersion, rows: list[dict[str, Any]]) -> list[Any] | None:
    """Predictions of the rows in one call (the numpy fast path when the model has one); None on failure."""
    import numpy as np

    try:
        if model.fast is not None and all(v is not None for row in rows for v in row.values()):
            matrix = np.array([[row[c] for c in model.column_names] for row in rows], dtype=np.float64)
            return list(np.asarray(model.predict_matrix(matrix)))
        return list(np.asarray(model.predict_frame(_frame(model, rows))))
    except Exception:
        return None


def _text(value: Any) -> str:
    """A prediction as the sink's text: numbers as JSON numbers, others as text or JSON."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _log_row(
    model: LoadedVersion,
    alias: str,
    result: Result,
    row: dict[str, Any] | None,
    value: Any,
    *,
    ts: int,
    latency: float,
    ood: list[str],
) -> dict[str, Any]:
    import numpy as np

    entry: dict[str, Any] = {
        "request_id": result.id,
        "row": 0,
        "ts": ts,
        "model_name": model.name,
        "model_version": model.version,
        "alias": alias,
        "variant": "main",
        "source": "stream",
        "status": "ok" if result.error is None else "error",
        "error": result.error,
        "latency_ms": latency,
        "ood": ood,
        "ood_count": len(ood),
    }
    if result.error is None and row is not None:
        if not model.columns:  # no signature: an event's values are text or JSON values; logged as text
            row = {name: v if isinstance(v, str) else json.dumps(v) for name, v in row.items()}
        entry.update({f"in.{name}": value for name, value in row.items()})
        if isinstance(value, np.generic):
            value = value.item()
        entry["prediction"] = (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else result.prediction
        )
    return entry


def run(ref: str, source_url: str, sink_url: str, options: StreamOptions | None = None) -> StreamStats:
    """Consume `source_url` into `sink_url` with the model version `ref` (MODEL@ALIAS) follows, until
    SIGTERM or SIGINT; the current micro-batch is finished first.

    Raises
    ------
    UsageError: a malformed address or option; StreamError: Redis cannot be reached; NotFoundError: an
        unknown model or alias.
    """
    options = options or StreamOptions()
    if options.batch_size < 1 or options.claim_idle_ms < 0 or options.poll_seconds <= 0:
        raise UsageError("--batch-size must be at least 1 and --claim-idle-ms, --poll positive.")
    if not 1 <= options.block_ms <= MAX_BLOCK_MS:  # 0 is Redis' "for ever": no stop, a socket timeout
        raise UsageError(
            f"--block-ms {options.block_ms} must be between 1 and {MAX_BLOCK_MS}.",
            hint="It is how long one read waits for new events; the consumer reads again after it.",
        )
    target_mod.parse(ref)
    if same_stream(source_url, sink_url):
        raise UsageError(
            f"The source and the sink are the same stream ({sink_url}): every prediction would be read back "
            "as an event, refused, and written again, for ever.",
            hint="Write the predictions to a stream of their own, e.g. --sink redis://HOST:PORT/predictions.",
        )
    consumer_name = options.consumer or socket.gethostname()
    source = open_source(source_url, options.group, consumer_name, claim_idle_ms=options.claim_idle_ms)
    sink = open_sink(sink_url)
    consumer = Consumer(ref, source, sink, options)

    def stop(signum: int, frame: Any) -> None:
        consumer.stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return consumer.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def render(stats: StreamStats) -> str:
    """The readable summary printed when the consumer stops."""
    return (
        f"stream stopped after {stats.seconds:.1f} s: {stats.scored} scored, {stats.errors} refused, "
        f"{stats.duplicates} duplicates skipped in {stats.batches} batches (versions {', '.join(stats.versions)})"
        + (f"; the stream's server was away {stats.outages} times" if stats.outages else "")
    )
