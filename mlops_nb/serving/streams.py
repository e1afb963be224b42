"""Where stream events come from and where predictions go: a small interface and its Redis Streams side.

A `Source` hands out events of a consumer group and takes acknowledgements; a `Sink` writes predictions and
says which of them were new. A Kafka source/sink would implement the same three methods (offsets committed in
`ack`, a compacted topic or a keyed store for the sink's de-duplication) and be chosen by `open_source` /
`open_sink` from the URL's scheme.

Redis: the source is a stream read by XREADGROUP in a consumer group (created at the stream's start when
missing). On start a consumer first re-reads the events it was given but never acknowledged (a restart of the
same consumer name); every so often it takes over events another consumer left pending longer than
`claim_idle_ms` (XAUTOCLAIM: a consumer that died). The sink appends one entry per prediction to its stream and
records the source event id (a key per event) in the same Lua script, so a prediction is written at most once
per event however often the event is delivered. The record lives `pending_ms` (a day) while its event may
still be redelivered; once the event is acknowledged it only has to outlive a duplicate from a consumer that
stalled past `claim_idle_ms`, so it expires after `settled_ms`: the records take memory for the events in
flight, not for every event ever scored.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from mlops_nb.exceptions import StreamError, StreamUnavailableError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One source event: its id and its fields (None when it was deleted while pending)."""

    id: str
    fields: dict[str, str] | None


@dataclass(frozen=True)
class Result:
    """The prediction of one event, or the error that kept it from being scored."""

    id: str
    prediction: str | None
    model_version: str
    error: str | None = None


class Source(Protocol):
    """Events of a consumer group."""

    name: str

    def read(self, count: int, block_ms: int) -> list[Event]:
        """Up to `count` events: this consumer's unacknowledged ones, others' stale ones, then new ones."""

    def ack(self, ids: list[str]) -> None:
        """Mark events done: they are never handed out again."""

    def available(self) -> bool:
        """True when the server answers again (then this consumer's unacknowledged events come first)."""

    def close(self) -> None:
        """Release the connection."""


class Sink(Protocol):
    """Where predictions go, each at most once per source event."""

    def write(self, results: list[Result], origin: str) -> set[str]:
        """Write the results whose event id was never written for `origin`; return those ids."""

    def settle(self, ids: list[str], origin: str) -> None:
        """The events were acknowledged: their de-duplication records may expire soon (never raises)."""

    def available(self) -> bool:
        """True when the server answers."""

    def close(self) -> None:
        """Release the connection."""


@dataclass(frozen=True)
class RedisAddress:
    """redis://HOST:PORT/STREAM split up."""

    host: str
    port: int
    stream: str

    def __str__(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.stream}"


def parse_redis(url: str) -> RedisAddress:
    """`redis://HOST:PORT/STREAM` (the stream name URL-encoded when it holds '/' or '%')."""
    parts = urllib.parse.urlsplit(url)
    stream = urllib.parse.unquote(parts.path.removeprefix("/"))
    try:
        port = parts.port or 6379
    except ValueError:
        port = -1
    if parts.scheme != "redis" or not parts.hostname or not stream or port < 1:
        raise UsageError(f"{url!r} is not a Redis stream address.", hint="Write redis://HOST:PORT/STREAM.")
    return RedisAddress(parts.hostname, port, stream)


def _failed(what: str, exc: Exception) -> StreamError:
    """The error of a Redis call: StreamUnavailableError when the server cannot be reached."""
    import redis

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return StreamUnavailableError(f"{what} failed: {exc}", hint="Start Redis again: the consumer waits.")
    return StreamError(f"{what} failed: {exc}")


def _answers(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _connect(address: RedisAddress) -> Any:
    import redis

    client = redis.Redis(address.host, address.port, decode_responses=True, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StreamError(
            f"Redis at {address.host}:{address.port} does not answer ({exc}).",
            hint="Start it, or fix the host and port of the address.",
        ) from None
    return client


class RedisSource:
    """A Redis stream read by one consumer of a consumer group."""

    def __init__(
        self, address: RedisAddress, group: str, consumer: str, *, claim_idle_ms: int = 30_000
    ) -> None:
        import redis

        self.address, self.group, self.consumer = address, group, consumer
        self.name = address.stream
        self.claim_idle_ms = claim_idle_ms
        self.client = _connect(address)
        try:
            self.client.xgroup_create(address.stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StreamError(f"Cannot create consumer group {group!r} on {address}: {exc}") from None
        self._own_pending = True  # first hand out what this consumer name was given and never acknowledged
        self._claim_cursor = "0-0"
        self._next_claim = 0.0

    def read(self, count: int, block_ms: int) -> list[Event]:
        if self._own_pending:
            mine = self._group_read("0", count, None)
            if mine:
                return mine
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            claimed = self._claim(count)
            if claimed:
                return claimed
        return self._group_read(">", count, block_ms)

    def _group_read(self, start: str, count: int, block_ms: int | None) -> list[Event]:
        import redis

        try:
            found = self.client.xreadgroup(
                self.group, self.consumer, {self.name: start}, count=count, block=block_ms
            )
        except redis.RedisError as exc:
            raise _failed(f"Reading {self.address}", exc) from None
        return [Event(event_id, fields) for _, entries in found or [] for event_id, fields in entries]

    def _claim(self, count: int) -> list[Event]:
        """Events other consumers left pending longer than `claim_idle_ms`, taken over by this one."""
        import redis

        try:
            answer = self.client.xautoclaim(
                self.name,
                self.group,
                self.consumer,
                self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=count,
            )
        except redis.RedisError as exc:
            raise _failed(f"Taking over stale events of {self.address}", exc) from None
        cursor, entries = answer[0], answer[1]
        deleted = answer[2] if len(answer) > 2 else []
        self._claim_cursor = cursor
        if cursor == "0-0":  # scanned the whole pending list: look again later
            self._next_claim = time.monotonic() + max(self.claim_idle_ms / 2000, 0.05)
        events = [Event(event_id, fields) for event_id, fields in entries]
        return events + [Event(event_id, None) for event_id in deleted]

    def ack(self, ids: list[str]) -> None:
        import redis

        if not ids:
            return
        try:
            self.client.xack(self.name, self.group, *ids)
        except redis.RedisError as exc:
            raise _failed(f"Acknowledging events of {self.address}", exc) from None

    def available(self) -> bool:
        if not _answers(self.client):
            return False
        self._own_pending = True  # events read before the server went away may be unacknowledged
        return True

    def close(self) -> None:
        self.client.close()


# Writes the new results and records their ids in one step: KEYS = sink stream, then each result's record key;
# ARGV = the records' lifetime in ms, then per result (event id, prediction, model version, error), "" meaning
# absent. Returns the ids written.
_WRITE = """
local written = {}
for i = 2, #KEYS do
  local a = 2 + (i - 2) * 4
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local entry
    if ARGV[a + 3] == '' then
      entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[a], 'prediction', ARGV[a + 1], 'model_version', ARGV[a + 2])
    else
      entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[a], 'model_version', ARGV[a + 2], 'error', ARGV[a + 3])
    end
    redis.call('SET', KEYS[i], entry, 'PX', ARGV[1])
    table.insert(written, ARGV[a])
  end
end
return written
"""
PENDING_MS = 24 * 3600 * 1000  # a written event's record while the event may still be redelivered
SETTLED_MS = 10 * 60 * 1000  # after its acknowledgement: longer than any claim_idle_ms in use


class RedisSink:
    """A Redis stream of predictions; `<stream>:scored:<origin>:<event id>` holds each written event's entry."""

    def __init__(
        self, address: RedisAddress, *, pending_ms: int = PENDING_MS, settled_ms: int = SETTLED_MS
    ) -> None:
        self.address = address
        self.client = _connect(address)
        self._script = self.client.register_script(_WRITE)
        self.pending_ms, self.settled_ms = pending_ms, settled_ms

    def record_key(self, origin: str, event_id: str) -> str:
        """The key recording that event `event_id` of source `origin` was written."""
        return f"{self.address.stream}:scored:{origin}:{event_id}"

    def write(self, results: list[Result], origin: str) -> set[str]:
        import redis

        if not results:
            return set()
        args: list[str | int] = [self.pending_ms]
        for result in results:
            args += [result.id, result.prediction or "", result.model_version, result.error or ""]
        keys = [self.address.stream, *(self.record_key(origin, result.id) for result in results)]
        try:
            written = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise _failed(f"Writing predictions to {self.address}", exc) from None
        return set(written or [])

    def settle(self, ids: list[str], origin: str) -> None:
        import redis

        if not ids:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for event_id in ids:
                    pipe.pexpire(self.record_key(origin, event_id), self.settled_ms)
                pipe.execute()
        except redis.RedisError as exc:  # the records then expire after pending_ms: nothing is lost
            log.warning("could not shorten the de-duplication records on %s: %s", self.address, exc)

    def available(self) -> bool:
        return _answers(self.client)

    def close(self) -> None:
        self.client.close()


def same_stream(first: str, second: str) -> bool:
    """Whether two addresses name one stream (localhost and 127.0.0.1 alike)."""
    loopback = {"localhost", "127.0.0.1", "::1"}
    a, b = parse_redis(first), parse_redis(second)
    hosts_match = a.host.lower() == b.host.lower() or {a.host.lower(), b.host.lower()} <= loopback
    return hosts_match and a.port == b.port and a.stream == b.stream


def open_source(url: str, group: str, consumer: str, *, claim_idle_ms: int) -> Source:
    """The source at `url` (redis://HOST:PORT/STREAM)."""
    return RedisSource(parse_redis(url), group, consumer, claim_idle_ms=claim_idle_ms)


def open_sink(url: str) -> Sink:
    """The sink at `url` (redis://HOST:PORT/STREAM)."""
    return RedisSink(parse_redis(url))
