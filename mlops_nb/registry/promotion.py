"""Promotion: gated alias moves (promote, approve, roll back), each recorded on the version it reached.

- `promote(model, version, to="champion", env=...)` checks the gates (`promotion_gates`); a failing gate
  refuses the move (recorded as a `reject`) unless `force=True` with a reason, which is recorded.
- Environments: with `env`, the alias is `<to>-<env>` (champion-staging). A version reaches an environment
  only after it has been champion in the one before it in the pipeline file's `release_order`, unless
  forced. An environment with `approval: required` turns `promote` into a pending `request` that
  `approve` by another actor completes.
- `rollback(model, env=...)` gives the alias back to the version that held it before the current one.

The record: each move is one JSON tag `records.promotion_move_tag(n)` on the version it concerns (who,
when, why, the previous holder, the gate table). An alias move never deletes the alias: MLflow moves it in
one write, so there is always a champion. The record is written first as an `intent`, then the alias, then
the record as `done`; a process killed in between leaves an intent that is resolved from the alias itself
(moved: done, not moved: abandoned) by every reader and written down by the next move.

Moves of one model run one at a time among the processes of a project (a file lock under `.mlops/locks/`):
two promotions at once would otherwise both read the same holder and record a wrong previous version.
Processes on other machines sharing a tracking server are not covered by the lock.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from mlops_nb import records, store
from mlops_nb.exceptions import NotFoundError, PromotionRefusedError, UsageError
from mlops_nb.interrupts import deferred_signals
from mlops_nb.registry.moves import (
    ABANDONED,
    DONE,
    INTENT,
    MOVES,
    Move,
    Record,
    load,
    open_requests,
    record,
    repair,
    resolve,
    to_json,
)
from mlops_nb.registry.promotion_gates import ORDER, Gate, check, deploy_gate, pipeline_spec

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from mlops_nb.pipelines.spec import PipelineSpec

__all__ = [
    "Gate",
    "Move",
    "actor_name",
    "alias_for",
    "approve",
    "check_gates",
    "history",
    "pending",
    "promote",
    "rollback",
]


def alias_for(alias: str, env: str | None) -> str:
    """The alias in environment `env`: "champion" without one, "champion-staging" in staging."""
    return f"{alias}-{env}" if env else alias


def actor_name(identity: str | None = None) -> str:
    """Who acts: the Jupyter identity the server passes in, else the OS user."""
    return identity.strip() if identity and identity.strip() else getpass.getuser()


def check_gates(model: str, version: str | int, *, env: str | None = None) -> list[Gate]:
    """The promotion gates of a version for its environment's champion (each with its values)."""
    client = store.client()
    target = _version(client, model, version)
    spec, origin = pipeline_spec(client, target)
    _environment(spec, env, origin)
    alias = alias_for(records.ALIAS_CHAMPION, env)
    found = load(client, model)
    return _gates(client, target, alias=alias, env=env, spec=spec, origin=origin, found=found)


P = ParamSpec("P")
R = TypeVar("R")


def one_move_at_a_time(function: Callable[P, R]) -> Callable[P, R]:
    """`function(model, ...)` run holding the project's lock for `model`'s alias moves."""

    @functools.wraps(function)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        model = str(args[0] if args else kwargs["model"])
        digest = hashlib.blake2b(model.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
        with store.file_lock(store.ensure_store().state_dir / "locks" / f"model-{digest}.lock"):
            return function(*args, **kwargs)

    return locked


@one_move_at_a_time
def promote(
    model: str,
    version: str | int,
    *,
    to: str = records.ALIAS_CHAMPION,
    env: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> Move:
    """Give `version` of `model` the alias `to` (in environment `env`) once its gates pass.

    Parameters
    ----------
    to: the alias (champion); with `env` it becomes `<to>-<env>`.
    actor: who promotes (default: the OS user); reason: why (required with `force`).
    force: override failing gates; the override, its reason and the gate table are recorded.

    Returns the recorded Move: action "promote", or "request" when the environment requires approval.

    Raises
    ------
    PromotionRefusedError: a gate failed and `force` is not set (the refusal is recorded, action "reject").
    UsageError: `force` without a reason, an unknown environment, an environment's alias in `to`, or the
        version holds the alias already.
    NotFoundError: no such model version.
    """
    if force and not (reason or "").strip():
        raise UsageError("Overriding the gates needs a reason.", hint="Add --reason TEXT (it is recorded).")
    if to.startswith(f"{records.ALIAS_CHAMPION}-"):  # an environment's alias skips its order and approval
        raise UsageError(
            f"{to!r} is an environment's alias: it is given only through its environment.",
            hint=f"Promote with --to {records.ALIAS_CHAMPION} --env ENV (its order and approval apply).",
        )
    client, writer = store.client(), store.writer()
    target = _version(client, model, version)
    spec, origin = pipeline_spec(client, target)
    environment = _environment(spec, env, origin)
    alias = alias_for(to, env)
    found = repair(writer, model, load(client, model), _aliases(client, model))
    previous = _holder(client, model, alias)
    if previous == str(target.version):
        raise UsageError(f"Version {target.version} of {model!r} already holds {model}@{alias}.")
    gates = _gates(client, target, alias=alias, env=env, spec=spec, origin=origin, found=found)
    move = Move(
        model,
        str(target.version),
        alias,
        env,
        "promote",
        actor_name(actor),
        _now(),
        _text(reason),
        force,
        previous,
        gates,
    )
    failing = [gate for gate in gates if not gate.passed]
    if failing and not force:
        record(writer, target, replace(move, action="reject", forced=False), DONE)
        raise _refusal(
            f"Promoting version {target.version} of {model!r} to {alias} was refused", failing, gates
        )
    if not failing:
        move = replace(move, forced=False)
    if environment is not None and environment.approval:
        if any(r.move.version == move.version and r.move.alias == alias for r in open_requests(found)):
            raise UsageError(
                f"Version {move.version} of {model!r} already waits for approval to {alias}.",
                hint=f"Another person approves it: mlops-nb approve {model} --version {move.version} --env {env}.",
            )
        request = replace(move, action="request")
        record(writer, target, request, DONE)
        return request
    return _move(client, writer, target, move)


@one_move_at_a_time
def approve(
    model: str,
    version: str | int,
    *,
    env: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> Move:
    """Complete the pending promotion request of `version` (in `env`): the alias moves, recorded as "approve".

    Raises PromotionRefusedError when the approver is the requester (four eyes), or when a gate fails now
    and the request did not override the gates; NotFoundError when no request is pending.
    """
    client, writer = store.client(), store.writer()
    target = _version(client, model, version)
    found = repair(writer, model, load(client, model), _aliases(client, model))
    requests = [
        r.move for r in open_requests(found) if r.move.version == str(target.version) and r.move.env == env
    ]
    if not requests:
        where = f" in {env}" if env else ""
        raise NotFoundError(
            f"No promotion of version {target.version} of {model!r}{where} waits for approval.",
            hint=f"See the pending requests with `mlops-nb pending {model}`.",
        )
    request = requests[-1]
    approver = actor_name(actor)
    if approver == request.actor:
        raise PromotionRefusedError(
            f"{approver} asked for this promotion and cannot approve it too.",
            gates=request.gates,
            hint="Approval needs a second person: someone else runs `mlops-nb approve`.",
        )
    spec, origin = pipeline_spec(client, target)
    gates = _gates(client, target, alias=request.alias, env=env, spec=spec, origin=origin, found=found)
    failing = [gate for gate in gates if not gate.passed]
    if failing and not request.forced:
        raise _refusal(
            f"Approving version {target.version} of {model!r} to {request.alias} was refused", failing, gates
        )
    move = replace(
        request,
        action="approve",
        actor=approver,
        time=_now(),
        reason=_text(reason) or request.reason,
        previous_version=_holder(client, model, request.alias),
        gates=gates,
        forced=bool(failing),
    )
    return _move(client, writer, target, move)


@one_move_at_a_time
def rollback(
    model: str, *, env: str | None = None, actor: str | None = None, reason: str | None = None
) -> Move:
    """Give `model`'s champion (in `env`) back to the version that held it before the current one.

    Raises UsageError when no earlier champion is recorded.
    """
    client, writer = store.client(), store.writer()
    alias = alias_for(records.ALIAS_CHAMPION, env)
    found = repair(writer, model, load(client, model), _aliases(client, model))
    stack: list[str] = []  # the holders, oldest first, as far as the record tells
    for done in sorted(found, key=lambda r: r.seq):
        if done.state == DONE and done.move.alias == alias and done.move.action in MOVES:
            if done.move.action == "rollback":
                stack = stack[:-1] if len(stack) > 1 else stack
                continue
            before = done.move.previous_version
            if before is not None and (not stack or stack[-1] != before):
                stack.append(before)  # a holder set outside mlops_nb (MLflow's own API or UI)
            stack.append(done.move.version)
    if len(stack) < 2:
        raise UsageError(
            f"{model}@{alias} has no earlier champion to roll back to.",
            hint=f"See its moves with `mlops-nb history {model}`.",
        )
    target = _version(client, model, stack[-2])
    spec, origin = pipeline_spec(client, target)
    # recorded with the move, not enforced: a rollback restores a version that was champion before
    gates = _gates(client, target, alias=alias, env=env, spec=spec, origin=origin, found=found)
    move = Move(
        model,
        str(target.version),
        alias,
        env,
        "rollback",
        actor_name(actor),
        _now(),
        _text(reason),
        False,
        _holder(client, model, alias),
        gates,
    )
    return _move(client, writer, target, move)


def history(model: str) -> list[Move]:
    """Every move of `model`'s aliases, requests and refusals, newest first."""
    client = store.client()
    _model_exists(client, model)
    found = resolve(load(client, model), _aliases(client, model))
    return [r.move for r in sorted(found, key=lambda r: r.seq, reverse=True) if r.state == DONE]


def pending(model: str | None = None) -> list[Move]:
    """The open approval requests (of `model`, or of every registered model), oldest first."""
    client = store.client()
    if model is not None:
        _model_exists(client, model)
    names = [model] if model else [m.name for m in client.search_registered_models()]
    return [
        r.move for name in names for r in open_requests(resolve(load(client, name), _aliases(client, name)))
    ]


def _move(client: MlflowClient, writer: store.Writer, target: ModelVersion, move: Move) -> Move:
    """Move the alias to `target` between an intent record and its completion (signals held)."""
    seq = time.time_ns()
    with deferred_signals():
        tag = record(writer, target, move, INTENT, seq)
        try:
            writer.set_alias(move.model, move.alias, move.version)  # one write: the alias is never absent
        except BaseException:
            writer.set_version_tags(move.model, move.version, {tag: to_json(move, ABANDONED, seq)})
            raise
        writer.set_version_tags(move.model, move.version, {tag: to_json(move, DONE, seq)})
        challenger = _holder(client, move.model, records.ALIAS_CHALLENGER)
        if move.alias.startswith(records.ALIAS_CHAMPION) and challenger == move.version:
            writer.delete_alias(move.model, records.ALIAS_CHALLENGER)  # the challenger slot is free again
    return move


# --- helpers --------------------------------------------------------------------------------------------


def _gates(
    client: MlflowClient,
    target: ModelVersion,
    *,
    alias: str,
    env: str | None,
    spec: PipelineSpec | None,
    origin: str,
    found: list[Record],
) -> list[Gate]:
    """The version's gates, plus the environment order when `env` comes after another one."""
    gates = check(client, target, alias, spec, origin)
    before = spec.requires(env) if spec is not None and env else None
    if before:
        needed = alias_for(records.ALIAS_CHAMPION, before)
        been = str(target.version) == _holder(client, target.name, needed) or any(
            r.state == DONE
            and r.move.alias == needed
            and r.move.version == str(target.version)
            and r.move.action in MOVES
            for r in found
        )
        message = f"Has been {needed}." if been else f"Never was {needed}: promote it in {before} first."
        gates.append(Gate(ORDER, been, message, {"requires": needed}))
    environment = spec.environments.get(env) if spec is not None and env else None
    if environment is not None and environment.deploy_check:
        gates.append(deploy_gate(target))
    return gates


def _environment(spec: PipelineSpec | None, env: str | None, origin: str) -> Any:
    """The pipeline file's environment `env` (None without one); UsageError when it is not configured."""
    if env is None:
        return None
    if spec is None:
        raise UsageError(
            f"No environments are known for this version: {origin}.",
            hint="Promote without --env, or restore the pipeline file that defines the environment.",
        )
    if env not in spec.environments:
        known = ", ".join(spec.environments) or "(none)"
        raise UsageError(f"Environment {env!r} is not defined in {spec.path}.", hint=f"Known: {known}.")
    return spec.environments[env]


def _refusal(what: str, failing: list[Gate], gates: list[Gate]) -> PromotionRefusedError:
    lines = "; ".join(f"{gate.name}: {gate.message}" for gate in failing)
    return PromotionRefusedError(
        f"{what}: {len(failing)} gate(s) failed. {lines}",
        gates=gates,
        hint="Fix what the gates report, or override with --force --reason TEXT (the override is recorded).",
    )


def _version(client: MlflowClient, model: str, version: str | int) -> ModelVersion:
    from mlops_nb.registry.register import _get

    return _get(
        lambda: client.get_model_version(model, str(version)),
        f"Version {version} of model {model!r}",
        f"List the moves with `mlops-nb history {model}`, or the versions in the MLflow UI.",
    )


def _model_exists(client: MlflowClient, model: str) -> None:
    from mlops_nb.registry.register import _get

    _get(lambda: client.get_registered_model(model), f"Registered model {model!r}", "Check the model's name.")


def _aliases(client: MlflowClient, model: str) -> dict[str, str]:
    aliases = client.get_registered_model(model).aliases or {}
    return {alias: str(version) for alias, version in aliases.items()}


def _holder(client: MlflowClient, model: str, alias: str) -> str | None:
    return _aliases(client, model).get(alias)


def _text(reason: str | None) -> str | None:
    return reason.strip() if reason and reason.strip() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
