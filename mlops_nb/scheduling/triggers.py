"""Triggers: when a schedule fires.

Time triggers (``cron`` with a time zone, ``interval``) give fire times as a pure function of the schedule
and a clock, so every scheduler on one database computes the same firing: the database then lets exactly
one of them claim it. Cron expressions are read by cronsim and time zones by zoneinfo, never by hand.
The ``data`` trigger compares what the pipeline's source holds now with what it held when the schedule
last fired: new files, N new rows, or a changed fingerprint (the ingestion step's digest); on a dataset
source (``data.dataset``), a new version. ``drift``, ``decay`` and ``manual`` are events: something raises
them (see ``schedules.raise_trigger``).
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlops_nb.exceptions import ConfigError, UsageError
from mlops_nb.pipelines.spec import DataSource

TIME_KINDS = ("cron", "interval", "monitor")  # monitor: a monitoring pass every interval, not a pipeline run
EVENT_KINDS = ("drift", "decay", "manual")
MAX_CATCHUP = 100  # firings a catch-up policy of "all" runs at most
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_EVERY = 366 * 86400  # an interval longer than a year is a cron expression (and overflows datetime)


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``15m``, ``6h``, ``1d`` or ``1h30m``."""
    parts = re.findall(r"(\d+)\s*([smhdw])", text.strip().lower())
    if not parts or re.sub(r"\d+\s*[smhdw]|\s", "", text.strip().lower()):
        raise UsageError(
            f"{text!r} is not a duration.", hint="Write a number and a unit (s, m, h, d, w): 30s, 6h, 1h30m."
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in parts)
    if seconds < 1:
        raise UsageError(f"The duration {text!r} is zero.", hint="Give at least 1s.")
    if seconds > MAX_EVERY:
        raise UsageError(
            f"The duration {text!r} is longer than a year.",
            hint='Give at most 366d, or a cron expression for rarer runs (--cron "0 3 1 1 *").',
        )
    return seconds


def zone(name: str) -> ZoneInfo:
    """The time zone called `name` (IANA name such as ``Europe/Paris``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"{name!r} is not a time zone.", hint="Use an IANA name such as UTC or Europe/Paris."
        ) from exc


def check_cron(expression: str, tz: str) -> None:
    """Raise UsageError when cronsim cannot read `expression` or `tz` is not a time zone."""
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime.now(zone(tz)))
    except CronSimError as exc:
        raise UsageError(
            f"{expression!r} is not a cron expression: {exc}.",
            hint='Five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *".',
        ) from exc


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime (a naive one is taken as UTC, as the database stores it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Trigger:
    """What makes a schedule fire: its kind and settings (``cron``/``tz``, ``every``/``anchor``,
    ``source``/``format``/``min_rows``)."""

    kind: str
    settings: dict[str, Any]

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after `moment` (None for data and event triggers)."""
        moment = utc(moment)
        if self.kind in ("interval", "monitor"):
            every, anchor = self.settings["every"], datetime.fromisoformat(self.settings["anchor"])
            if moment < anchor:
                return anchor
            steps = int((moment - anchor).total_seconds() // every) + 1
            return anchor + timedelta(seconds=steps * every)
        if self.kind == "cron":
            from cronsim import CronSim

            local = moment.astimezone(zone(self.settings.get("tz") or "UTC"))
            return utc(next(CronSim(self.settings["cron"], local)))
        return None

    def due(self, next_fire: datetime, now: datetime) -> tuple[list[datetime], int]:
        """Fire times from `next_fire` to `now` inclusive: the last MAX_CATCHUP of them, and how many."""
        next_fire, now = utc(next_fire), utc(now)
        if next_fire > now:
            return [], 0
        if self.kind in ("interval", "monitor"):
            every = timedelta(seconds=self.settings["every"])
            count = int((now - next_fire) / every) + 1
            first = max(count - MAX_CATCHUP, 0)
            return [next_fire + i * every for i in range(first, count)], count
        kept: collections.deque[datetime] = collections.deque(maxlen=MAX_CATCHUP)
        count, moment = 0, next_fire
        while moment is not None and moment <= now:
            kept.append(moment)
            count += 1
            moment = self.next_after(moment)
        return list(kept), count

    def describe(self) -> str:
        """One line for listings: ``cron 0 3 * * * (Europe/Paris)``, ``every 30s``, ``on data``."""
        if self.kind == "cron":
            return f"cron {self.settings['cron']} ({self.settings.get('tz') or 'UTC'})"
        if self.kind == "interval":
            return f"every {format_duration(self.settings['every'])}"
        if self.kind == "monitor":
            return f"monitor {self.settings['model']}@{self.settings['alias']} every {format_duration(self.settings['every'])}"
        if self.kind == "data":
            rows = self.settings.get("min_rows")
            return f"on data in {self.settings['source']}" + (f" (>= {rows} new rows)" if rows else "")
        return self.kind


def format_duration(seconds: int) -> str:
    """``90`` -> ``1m30s``."""
    text = ""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            text += f"{count}{unit}"
    return text or "0s"


def interval(every: str, now: datetime) -> Trigger:
    """An interval trigger anchored at `now` (whole seconds): it fires at now + every, + 2 every, ..."""
    anchor = utc(now).replace(microsecond=0)
    return Trigger("interval", {"every": parse_duration(every), "anchor": anchor.isoformat()})


def monitor(model: str, alias: str, every: str, window: str | None, now: datetime) -> Trigger:
    """A monitoring pass of `model@alias` every `every` over the last `window` (default: `every`)."""
    base = interval(every, now)
    if window is not None:
        parse_duration(window)
    return Trigger("monitor", {**base.settings, "model": model, "alias": alias, "window": window or every})


def cron(expression: str, tz: str | None) -> Trigger:
    """A cron trigger evaluated in time zone `tz` (default UTC)."""
    check_cron(expression, tz or "UTC")
    return Trigger("cron", {"cron": expression, "tz": tz or "UTC"})


# --- data -----------------------------------------------------------------------------------------------


def data(source: DataSource, min_rows: int | None) -> Trigger:
    """A data trigger on a pipeline's (environment's) source glob, or on its dataset's versions."""
    if min_rows is not None and min_rows < 1:
        raise UsageError(f"--min-rows {min_rows} must be at least 1.")
    settings = {"source": source.source, "format": source.format, "min_rows": min_rows}
    return Trigger("data", {**settings, "dataset": source.dataset} if source.dataset else settings)


def _signature(files: list[Path]) -> dict[str, list[int]]:
    signature = {}
    for path in files:
        stat = path.stat()
        signature[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return signature


def observe(trigger: Trigger, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the source holds now: its files (size, mtime), rows and fingerprint. The data is read only when
    the files differ from `previous` (the last observation), so an idle source costs a few stat calls.

    A data schedule keeps two observations: ``baseline`` (when it last fired, or was created) and ``seen``
    (the last one); it fires when `change` finds enough between the baseline and now."""
    from mlops_nb.pipelines import source as source_mod

    if trigger.settings.get("dataset"):  # a registered dataset: each new version is a new "file"
        from mlops_nb import datasets

        found = datasets.versions(trigger.settings["dataset"])
        if not found:
            return {"files": {}, "rows": 0, "fingerprint": None}
        latest = found[-1]
        return {"files": {latest.ref: [latest.version]}, "rows": latest.rows, "fingerprint": latest.digest}
    source = DataSource(trigger.settings["source"], trigger.settings.get("format", "auto"))
    try:
        files = source.files()
    except ConfigError:  # no file (yet): an empty source
        return {"files": {}, "rows": 0, "fingerprint": None}
    signature = _signature(files)
    if previous is not None and previous.get("files") == signature:
        return previous
    frame, _, rows = source_mod.read(source)
    return {"files": signature, "rows": rows, "fingerprint": source_mod.digest(frame)}


def change(trigger: Trigger, baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """The evidence that the source changed enough to fire, or None. With ``min_rows``: at least that many
    new rows; without: a new file or a changed fingerprint."""
    new_files = sorted(set(current["files"]) - set(baseline["files"]))
    new_rows = current["rows"] - baseline["rows"]
    min_rows = trigger.settings.get("min_rows")
    changed = bool(new_files) or current["fingerprint"] != baseline["fingerprint"]
    if not (new_rows >= min_rows if min_rows else changed):
        return None
    return {
        "new_files": new_files,
        "new_rows": new_rows,
        "rows": current["rows"],
        "fingerprint": current["fingerprint"],
        "previous_fingerprint": baseline["fingerprint"],
    }
