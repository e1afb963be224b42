"""The record of promotions: one JSON model version tag per move, and how interrupted moves are settled.

A record is `records.promotion_move_tag(n)` on the version the move concerns: the Move's fields plus its
`state` (intent, done, abandoned) and `seq` (its order, nanoseconds since the epoch). An alias move writes
an intent, moves the alias, then marks the record done; a record left as an intent by a killed process is
settled from the alias itself: moved (and not moved again since) means done, otherwise abandoned.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.registry.promotion_gates import Gate

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

ACTIONS = ("promote", "rollback", "request", "approve", "reject")  # reject: a promotion refused by a gate
MOVES = ("promote", "approve", "rollback")  # the actions that move an alias
INTENT, DONE, ABANDONED = "intent", "done", "abandoned"


@dataclass(frozen=True)
class Move:
    """One entry of a model's history: an alias move, an approval request or a refusal."""

    model: str
    version: str
    alias: str
    env: str | None
    action: str
    actor: str
    time: str  # ISO 8601 UTC
    reason: str | None
    forced: bool
    previous_version: str | None
    gates: list[Gate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The move as JSON-ready data."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "gates"}
        return {**data, "gates": [gate.to_dict() for gate in self.gates]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Move:
        """A move from `to_dict`'s output."""
        values = {name: data.get(name) for name in cls.__dataclass_fields__ if name != "gates"}
        values["forced"] = bool(values["forced"])
        return cls(**values, gates=[Gate.from_dict(g) for g in data.get("gates") or []])


@dataclass(frozen=True)
class Record:
    """A move as stored: its tag on the version, its state and its order."""

    move: Move
    tag: str
    state: str
    seq: int


def record(writer: store.Writer, target: ModelVersion, move: Move, state: str, seq: int | None = None) -> str:
    """Write `move` as the next numbered record on the version; returns its tag."""
    prefix = records.TAG_PROMOTION_MOVE_PREFIX
    numbers = [
        int(key.removeprefix(prefix))
        for key in target.tags or {}
        if key.startswith(prefix) and key.removeprefix(prefix).isdigit()
    ]
    tag = records.promotion_move_tag(max(numbers, default=0) + 1)
    writer.set_version_tags(move.model, move.version, {tag: to_json(move, state, seq or time.time_ns())})
    target.tags[tag] = state  # a second record by this process gets the next number
    return tag


def to_json(move: Move, state: str, seq: int) -> str:
    """The record's text, within MLflow's tag limit (gate details are dropped if it would not fit)."""
    data = {**move.to_dict(), "state": state, "seq": seq}
    text = json.dumps(data, default=str)
    if len(text) > store.Writer.TAG_VALUE_LIMIT:
        data["gates"] = [{**gate.to_dict(), "details": {"truncated": True}} for gate in move.gates]
        text = json.dumps(data, default=str)
    return text


def load(client: MlflowClient, model: str) -> list[Record]:
    """Every record on every version of `model`."""
    found = []
    quoted = model.replace("'", "\\'")
    for version in client.search_model_versions(f"name = '{quoted}'"):
        for key, value in (version.tags or {}).items():
            if key.startswith(records.TAG_PROMOTION_MOVE_PREFIX):
                data = json.loads(value)
                found.append(
                    Record(Move.from_dict(data), key, str(data.get("state")), int(data.get("seq") or 0))
                )
    return found


def resolve(found: list[Record], aliases: dict[str, str]) -> list[Record]:
    """Records with each intent settled: done when its alias is where it meant to put it (and no later
    move of that alias happened), abandoned otherwise."""
    latest: dict[str, int] = {}
    for record in found:
        if record.state == DONE and record.move.action in MOVES:
            latest[record.move.alias] = max(latest.get(record.move.alias, 0), record.seq)
    settled = []
    for record in found:
        if record.state == INTENT:
            moved = aliases.get(record.move.alias) == record.move.version
            later = latest.get(record.move.alias, 0) > record.seq
            settled.append(replace(record, state=DONE if moved and not later else ABANDONED))
        else:
            settled.append(record)
    return settled


def repair(writer: store.Writer, model: str, found: list[Record], aliases: dict[str, str]) -> list[Record]:
    """Settle the intents of interrupted moves and write them down (before the next move)."""
    settled = resolve(found, aliases)
    for before, after in zip(found, settled, strict=True):
        if before.state != after.state:
            text = to_json(after.move, after.state, after.seq)
            writer.set_version_tags(model, after.move.version, {after.tag: text})
    return settled


def open_requests(found: list[Record]) -> list[Record]:
    """Requests not yet approved, oldest first."""
    ordered = sorted((r for r in found if r.state == DONE), key=lambda r: r.seq)
    open_: list[Record] = []
    for record in ordered:
        if record.move.action == "request":
            open_.append(record)
        elif record.move.action == "approve":
            open_ = [
                r for r in open_ if (r.move.version, r.move.alias) != (record.move.version, record.move.alias)
            ]
    return open_
