"""Following registry aliases: each served alias holds a loaded version; a background thread polls the
registry (and wakes early on a webhook), loads a moved alias's new version beside the old one, warms it on
its input example and swaps it in. A version that fails to load or warm is logged and never swapped in.
Requests in flight keep the version object they started with, so they finish on the old one."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_nb import records, store
from mlops_nb.exceptions import MlopsError
from mlops_nb.serving import model_source
from mlops_nb.serving.ood import DomainCheck

log = logging.getLogger(__name__)


@dataclass
class Served:
    """A loaded version and its out-of-domain check."""

    model: model_source.LoadedVersion
    domain: DomainCheck


@dataclass
class Slot:
    """One followed alias."""

    alias: str
    variant: str
    served: Served | None = None
    failed: dict[str, str] = field(default_factory=dict)  # version -> why it was not swapped in
    problem: str | None = None  # why the alias cannot be checked now (deleted, registry unreachable)


class Follower:
    """Keeps every alias of a plan loaded and current."""

    def __init__(
        self,
        name: str,
        aliases: dict[str, str],
        *,
        poll_seconds: float = 3.0,
        where: str = "",
        shares: Callable[[], dict[str, float]] = dict,
        loader: Callable[[str, str], model_source.LoadedVersion] = model_source.load,
    ) -> None:
        self.name = name
        self.slots = {alias: Slot(alias, variant) for alias, variant in aliases.items()}
        self.poll_seconds = poll_seconds
        self.where = where
        self.shares = shares
        self.loader = loader
        self.swaps = 0
        self.load_failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load every alias now (errors propagate: the server does not start without them), then follow."""
        for slot in self.slots.values():
            version = model_source.resolve(self.name, slot.alias)
            slot.served = self._load(version)
            self._record(slot, version)
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for slot in self.slots.values():
            if slot.served is not None:
                self._record(slot, slot.served.model.version, ended=True)

    def wake(self) -> None:
        """Check the aliases now (a webhook said one moved)."""
        self._wake.set()

    def get(self, alias: str) -> Served:
        served = self.slots[alias].served
        assert served is not None, "Follower.start() loads every slot"
        return served

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            for slot in self.slots.values():
                try:
                    self.check(slot)
                except Exception as exc:  # alias deleted, registry unreachable: keep serving, try again
                    self._trouble(slot, exc)
                else:
                    if slot.problem is not None:
                        log.warning("%s@%s can be followed again", self.name, slot.alias)
                        slot.problem = None

    def _trouble(self, slot: Slot, error: Exception) -> None:
        """Note why an alias cannot be checked; logged once per cause, not on every poll."""
        if isinstance(error, MlopsError):
            problem = f"{error.message} {error.hint or ''}".strip()
        else:
            problem = f"{type(error).__name__}: {error}"
        if problem != slot.problem:
            log.error(
                "%s@%s cannot be followed (still serving version %s): %s",
                self.name,
                slot.alias,
                slot.served.model.version if slot.served else None,
                problem,
                exc_info=not isinstance(error, MlopsError),
            )
        slot.problem = problem

    def check(self, slot: Slot) -> bool:
        """Swap in the alias's version when it moved; True when a new version now answers."""
        version = model_source.resolve(self.name, slot.alias)
        current = slot.served.model.version if slot.served else None
        if version == current or version in slot.failed:
            return False
        try:
            served = self._load(version)
        except Exception as exc:
            slot.failed[version] = f"{type(exc).__name__}: {exc}"
            self.load_failures += 1
            log.error(
                "%s version %s (now @%s) was not swapped in; still serving version %s: %s",
                self.name,
                version,
                slot.alias,
                current,
                exc,
            )
            return False
        previous, slot.served = slot.served, served
        self.swaps += 1
        log.warning("%s@%s: version %s now answers (was %s)", self.name, slot.alias, version, current)
        if previous is not None:
            self._record(slot, previous.model.version, ended=True)
        self._record(slot, version)
        return True

    def _load(self, version: str) -> Served:
        for slot in self.slots.values():  # an alias already serving this version shares its copy
            if slot.served is not None and slot.served.model.version == version:
                return slot.served
        model = self.loader(self.name, version)
        return Served(model, DomainCheck.from_reference(model.reference))

    def _record(self, slot: Slot, version: str, *, ended: bool = False) -> None:
        """The deployment on the version: where, which alias and variant, share, since/until."""
        if not self.where:
            return
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record: dict[str, Any] = {
            "where": self.where,
            "alias": slot.alias,
            "variant": slot.variant,
            "share": self.shares().get(slot.alias),
            "until" if ended else "since": now,
        }
        key = records.deployment_tag(self.where, slot.alias)
        try:
            client = store.client()
            if ended:
                old = client.get_model_version(self.name, version).tags.get(key)
                record = {**(json.loads(old) if old else {}), **record}
            store.writer().set_version_tags(self.name, version, {key: json.dumps(record)})
        except Exception as exc:  # recording must never stop serving
            log.warning("could not record the deployment on %s version %s: %s", self.name, version, exc)
