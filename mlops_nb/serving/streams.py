"""Where stream events come from and where predictions go: a small interface and its Redis Streams side.

A `Source` hands out events of a consumer group and takes acknowledgements; a `Sink` writes predictions and
says which of them were new. A Kafka source/sink would implement the same three methods (offsets committed in
`ack`, a compacted topic or a keyed store for the sink's de-duplication) and be chosen by `open_source` /
`open_sink` from the URL's scheme.

Redis: the source is a stream read by XREADGROUP in a consumer group (created at the stream's start when
missing). On start a consumer first re-reads the events it was given but never acknowledged (a restart of the
same consumer name); every so often it takes over events another consumer left pending longer than
`claim_idle_ms` (XAUTOCLAIM: a consumer that died). The sink appends one entry per prediction to its stream and
records the source event id in a hash in the same Lua script, so a prediction is written at most once per
event however often the event is delivered.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from mlops_nb.exceptions import StreamError, StreamUnavailableError, UsageError


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


# Writes the new results and their ids in one step: KEYS = sink stream, dedupe hash; ARGV = per result
# (event id, prediction, model version, error), "" meaning absent. Returns the ids written.
_WRITE = """
local written = {}
for i = 1, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HSETNX', KEYS[2], id, '') == 1 then
    local entry
    if ARGV[i + 3] == '' then
      entry = redis.call('XADD', KEYS[1], '*', 'id', id, 'prediction', ARGV[i + 1], 'model_version', ARGV[i + 2])
    else
      entry = redis.call('XADD', KEYS[1], '*', 'id', id, 'model_version', ARGV[i + 2], 'error', ARGV[i + 3])
    end
    redis.call('HSET', KEYS[2], id, entry)
    table.insert(written, id)
  end
end
return written
"""


class RedisSink:
    """A Redis stream of predictions; `<stream>:scored:<origin>` maps each source event id to its entry."""

    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        self.client = _connect(address)
        self._script = self.client.register_script(_WRITE)

    def dedupe_key(self, origin: str) -> str:
        """The hash of the event ids of source `origin` already written."""
        return f"{self.address.stream}:scored:{origin}"

    def write(self, results: list[Result], origin: str) -> set[str]:
        import redis

        if not results:
            return set()
        args: list[str] = []
        for result in results:
            args += [result.id, result.prediction or "", result.model_version, result.error or ""]
        try:
            written = self._script(keys=[self.address.stream, self.dedupe_key(origin)], args=args)
        except redis.RedisError as exc:
            raise _failed(f"Writing predictions to {self.address}", exc) from None
        return set(written or [])

    def available(self) -> bool:
        return _answers(self.client)

    def close(self) -> None:
        self.client.close()


def open_source(url: str, group: str, consumer: str, *, claim_idle_ms: int) -> Source:
    """The source at `url` (redis://HOST:PORT/STREAM)."""
    return RedisSource(parse_redis(url), group, consumer, claim_idle_ms=claim_idle_ms)


def open_sink(url: str) -> Sink:
    """The sink at `url` (redis://HOST:PORT/STREAM)."""
    return RedisSink(parse_redis(url))
