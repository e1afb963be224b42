"""Schedules and raised triggers: what the CLI, the panel and the monitoring call. They only write the state
database; a scheduler process (``mlops-nb scheduler``) does the firing."""

from __future__ import annotations

import getpass
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlops_nb import config
from mlops_nb.exceptions import UsageError
from mlops_nb.scheduling import state, triggers
from mlops_nb.scheduling.state import firings, schedules


@dataclass
class Schedule:
    """A schedule as listed: its trigger, next fire time and last firing."""

    id: str
    pipeline: str
    env: str
    kind: str
    trigger: str  # one line, e.g. "every 30s"
    status: str  # active | paused
    catchup: str
    working_copy: bool
    next_fire: str | None
    pipeline_file: str | None
    last: dict[str, Any] | None  # the last firing: fire_time, state, run_id, reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``schedule list --json``)."""
        return asdict(self)


def _pipeline(path: str | Path, env: str) -> Any:
    from mlops_nb.pipelines import spec as spec_mod

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"No pipeline file {path}.", hint="Give the path of the pipeline's YAML file.")
    return spec_mod.load(file).for_env(env)


def add(
    pipeline: str | Path,
    env: str,
    *,
    cron: str | None = None,
    tz: str | None = None,
    every: str | None = None,
    on_data: bool = False,
    min_rows: int | None = None,
    catchup: str = "one",
    working_copy: bool = False,
    declared: str | None = None,
    settings: config.Settings | None = None,
) -> str:
    """Add a schedule for the pipeline file `pipeline` in environment `env`; returns its id.

    Parameters
    ----------
    cron, tz: fire on a cron expression, read in time zone `tz` (default UTC).
    every: fire every duration (``30s``, ``6h``).
    on_data, min_rows: fire when the environment's data source gets a new file or a changed fingerprint, or
        with `min_rows`, at least that many new rows.
    catchup: firings missed while no scheduler ran: ``none``, ``one`` (default: one run) or ``all``.
    working_copy: run the working copy while the environment has no release (default: refuse).
    declared: the trigger of the pipeline file this schedule comes from (set by `sync`).

    Raises
    ------
    UsageError: not exactly one trigger, a bad cron expression, time zone, duration or catch-up policy.
    ConfigError: the pipeline file is invalid or has no environment `env`.
    """
    chosen = [name for name, given in (("--cron", cron), ("--every", every), ("--on-data", on_data)) if given]
    if len(chosen) != 1:
        raise UsageError(
            "Give exactly one trigger" + (f" (got {', '.join(chosen)})." if chosen else "."),
            hint="One of --cron EXPR [--tz TZ], --every DURATION or --on-data [--min-rows N].",
        )
    if tz and not cron:
        raise UsageError("--tz goes with --cron.")
    if min_rows is not None and not on_data:
        raise UsageError("--min-rows goes with --on-data.")
    if catchup not in state.CATCHUP_POLICIES:
        raise UsageError(
            f"Catch-up policy {catchup!r} is unknown.",
            hint=f"Use one of {', '.join(state.CATCHUP_POLICIES)}.",
        )
    spec = _pipeline(pipeline, env)
    moment = state.now()
    watch = None
    if cron:
        trigger = triggers.cron(cron, tz)
    elif every:
        trigger = triggers.interval(every, moment)
    else:
        trigger = triggers.data(spec.data, min_rows)
        seen = triggers.observe(trigger)
        watch = {"baseline": seen, "seen": seen}
    schedule_id = uuid.uuid4().hex[:10]
    with state.transaction(settings) as db:
        db.execute(
            schedules.insert().values(
                id=schedule_id,
                pipeline=spec.name,
                pipeline_file=str(spec.path.resolve()),
                env=env,
                kind=trigger.kind,
                trigger=state.dumps(trigger.settings),
                watch=None if watch is None else state.dumps(watch),
                catchup=catchup,
                working_copy=working_copy,
                paused=False,
                next_fire=state.db_time(trigger.next_after(moment)),
                created=state.db_time(moment),
                created_by=getpass.getuser(),
                declared=declared,
            )
        )
    return schedule_id


def add_monitor(
    model: str, alias: str, every: str, *, window: str | None = None, settings: config.Settings | None = None
) -> str:
    """Add a schedule of monitoring passes of `model@alias` every `every` (each over the last `window`,
    default `every`); a scheduler runs ``mlops-nb monitor`` at each firing. Returns its id.

    Raises
    ------
    UsageError: a bad duration.
    """
    moment = state.now()
    trigger = triggers.monitor(model, alias, every, window, moment)
    schedule_id = uuid.uuid4().hex[:10]
    with state.transaction(settings) as db:
        db.execute(
            schedules.insert().values(
                id=schedule_id,
                pipeline=model,
                pipeline_file=None,
                env=alias,
                kind=trigger.kind,
                trigger=state.dumps(trigger.settings),
                catchup="one",
                working_copy=False,
                paused=False,
                next_fire=state.db_time(trigger.next_after(moment)),
                created=state.db_time(moment),
                created_by=getpass.getuser(),
            )
        )
    return schedule_id


def sync(pipeline: str | Path, settings: config.Settings | None = None) -> dict[str, list[str]]:
    """Make the schedules of a pipeline file match the `triggers` its environments declare: add the new
    ones, keep the unchanged, remove those no longer declared (schedules added by hand are left alone).
    Returns the ids added, kept and removed."""
    from mlops_nb.pipelines import spec as spec_mod

    spec = spec_mod.load(pipeline)
    file = str(spec.path.resolve())
    wanted = {
        state.dumps({"env": env.name, **item}): (env.name, item)
        for env in spec.environments.values()
        for item in env.triggers
    }
    with state.transaction(settings) as db:
        existing = {
            row.declared: row.id
            for row in db.execute(
                sa.select(schedules).where(
                    schedules.c.pipeline_file == file, schedules.c.declared.is_not(None)
                )
            )
        }
    result: dict[str, list[str]] = {"added": [], "kept": [], "removed": []}
    for key, schedule_id in existing.items():
        if key in wanted:
            result["kept"].append(schedule_id)
        else:
            remove(schedule_id, settings)
            result["removed"].append(schedule_id)
    for key, (env, item) in wanted.items():
        if key not in existing:
            every = item.get("every")
            result["added"].append(
                add(
                    file,
                    env,
                    cron=item.get("cron"),
                    tz=item.get("tz"),
                    every=None if every is None else str(every),
                    on_data=bool(item.get("on_data")),
                    min_rows=item.get("min_rows"),
                    catchup=item.get("catchup", "one"),
                    declared=key,
                    settings=settings,
                )
            )
    return result


def _last_firings(db: sa.Connection) -> dict[str, sa.Row]:
    latest = (
        sa.select(firings.c.schedule_id, sa.func.max(firings.c.id).label("id"))
        .group_by(firings.c.schedule_id)
        .subquery()
    )
    rows = db.execute(sa.select(firings).join(latest, firings.c.id == latest.c.id)).all()
    return {row.schedule_id: row for row in rows}


def firing_dict(row: sa.Row) -> dict[str, Any]:
    """A firing as the history lists it."""
    return {
        "id": row.id,
        "schedule_id": row.schedule_id,
        "kind": row.kind,
        "fire_time": state.iso(state.from_db(row.fire_time)),
        "state": row.state,
        "run_id": row.run_id,
        "release": row.release,
        "reason": row.reason,
        "evidence": state.loads(row.evidence),
        "started": state.iso(state.from_db(row.started)),
        "ended": state.iso(state.from_db(row.ended)),
        "log": row.log,
    }


def list_schedules(settings: config.Settings | None = None) -> list[Schedule]:
    """Every schedule, oldest first, with its last firing."""
    with state.transaction(settings) as db:
        rows = db.execute(sa.select(schedules).order_by(schedules.c.created)).all()
        last = _last_firings(db)
    return [
        Schedule(
            id=row.id,
            pipeline=row.pipeline,
            env=row.env,
            kind=row.kind,
            trigger=triggers.Trigger(row.kind, state.loads(row.trigger)).describe(),
            status="paused" if row.paused else "active",
            catchup=row.catchup,
            working_copy=row.working_copy,
            next_fire=state.iso(state.from_db(row.next_fire)),
            pipeline_file=row.pipeline_file,
            last=firing_dict(last[row.id]) if row.id in last else None,
        )
        for row in rows
    ]


def history(schedule_id: str, *, limit: int = 50, settings: config.Settings | None = None) -> list[dict]:
    """The schedule's last `limit` firings, newest first: the trigger history."""
    with state.transaction(settings) as db:
        state.schedule_row(db, schedule_id)
        rows = db.execute(
            sa.select(firings)
            .where(firings.c.schedule_id == schedule_id)
            .order_by(firings.c.id.desc())
            .limit(limit)
        ).all()
    return [firing_dict(row) for row in rows]


def pause(schedule_id: str, settings: config.Settings | None = None) -> None:
    """Stop the schedule's triggers from firing (run-now and raised triggers still run)."""
    with state.transaction(settings) as db:
        state.schedule_row(db, schedule_id)
        db.execute(schedules.update().where(schedules.c.id == schedule_id).values(paused=True))


def resume(schedule_id: str, settings: config.Settings | None = None) -> None:
    """Let a paused schedule fire again, from now on: firings of the paused time are not caught up."""
    with state.transaction(settings) as db:
        row = state.schedule_row(db, schedule_id)
        trigger = triggers.Trigger(row.kind, state.loads(row.trigger))
        next_fire = trigger.next_after(state.now())
        db.execute(
            schedules.update()
            .where(schedules.c.id == schedule_id)
            .values(paused=False, next_fire=state.db_time(next_fire))
        )


def remove(schedule_id: str, settings: config.Settings | None = None) -> None:
    """Delete the schedule and its trigger history (a run it started runs to its end)."""
    with state.transaction(settings) as db:
        state.schedule_row(db, schedule_id)
        db.execute(
            firings.delete().where(firings.c.schedule_id == schedule_id, firings.c.state != state.RUNNING)
        )
        db.execute(schedules.delete().where(schedules.c.id == schedule_id))


def _raise(db: sa.Connection, schedule_id: str, kind: str, evidence: Any, moment: datetime) -> int:
    result = db.execute(
        firings.insert().values(
            schedule_id=schedule_id,
            fire_time=state.db_time(moment),
            kind=kind,
            evidence=state.dumps(evidence) if evidence is not None else None,
            state=state.PENDING,
        )
    )
    return int(result.inserted_primary_key[0])


def run_now(schedule_id: str, settings: config.Settings | None = None) -> int:
    """Ask the schedulers for one run of the schedule now (a ``manual`` firing); returns the firing id."""
    with state.transaction(settings) as db:
        state.schedule_row(db, schedule_id)
        return _raise(db, schedule_id, "manual", {"by": getpass.getuser()}, state.now())


def raise_trigger(
    pipeline: str | Path,
    env: str,
    kind: str,
    evidence: Any = None,
    settings: config.Settings | None = None,
    *,
    cooldown: int | None = None,
) -> int | None:
    """Raise a ``drift``, ``decay`` or ``manual`` trigger of a pipeline (its file or name) in `env`: a
    scheduler runs the environment's release once, its run tagged with the trigger and `evidence` (e.g. the
    drift score). Returns the firing id; None when `cooldown` (seconds) is given and the trigger was raised
    within it (checked and raised in one transaction, so two processes raise it once).

    Raises
    ------
    UsageError: `kind` is not an event kind, `evidence` is not JSON-serialisable, or `pipeline` is neither a
        file nor a pipeline with a release in `env`.
    """
    if kind not in triggers.EVENT_KINDS:
        raise UsageError(
            f"Trigger kind {kind!r} cannot be raised.", hint=f"Use one of {', '.join(triggers.EVENT_KINDS)}."
        )
    try:
        json.dumps(evidence)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"The evidence is not JSON: {exc}.") from exc
    if Path(pipeline).is_file():
        spec = _pipeline(pipeline, env)
        name, file = spec.name, str(spec.path.resolve())
    else:
        from mlops_nb.pipelines import release

        name, file = str(pipeline), None
        if release.current(name, env, settings) is None:  # a mistyped path would queue a run that fails
            raise UsageError(
                f"{name!r} is not a pipeline file, nor a pipeline with a release in {env!r}.",
                hint="Give the pipeline file's path, or release it first: mlops-nb release FILE --to ENV.",
            )
    with state.transaction(settings) as db:
        found = db.execute(
            sa.select(schedules.c.id).where(
                schedules.c.pipeline == name, schedules.c.env == env, schedules.c.kind == kind
            )
        ).first()
        if found is None:  # the (pipeline, env, kind) event schedule, made on first use
            schedule_id = uuid.uuid4().hex[:10]
            db.execute(
                schedules.insert().values(
                    id=schedule_id,
                    pipeline=name,
                    pipeline_file=file,
                    env=env,
                    kind=kind,
                    trigger=state.dumps({}),
                    catchup="all",
                    working_copy=False,
                    paused=False,
                    created=state.db_time(state.now()),
                    created_by=getpass.getuser(),
                )
            )
        else:
            schedule_id = found.id
            if cooldown is not None:
                recent = db.execute(
                    sa.select(firings.c.id).where(
                        firings.c.schedule_id == schedule_id,
                        firings.c.fire_time >= state.db_time(state.now() - timedelta(seconds=cooldown)),
                    )
                ).first()
                if recent is not None:
                    return None
        return _raise(db, schedule_id, kind, evidence, state.now())
