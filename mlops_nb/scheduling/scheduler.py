"""The scheduler process: fires due schedules, launches their runs, watches them, recovers dead schedulers.

Each tick: heartbeat; recover the firings of schedulers that died (their runs are ended, never left
RUNNING; their unlaunched claims go back to the pool); reap its own runs that ended; plan the schedules
that are due (one compare-and-swap on the schedule's next fire time or data watch, plus one firing row per
run, so two schedulers on one database never plan a firing twice); claim raised firings (an UPDATE that
only succeeds on an unclaimed row); launch what it claimed, one run at a time per schedule.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import psutil
import sqlalchemy as sa

from mlops_nb import config, records, store
from mlops_nb.exceptions import MlopsError
from mlops_nb.scheduling import launch, state, triggers
from mlops_nb.scheduling.state import firings, schedulers, schedules

STALE = timedelta(seconds=120)  # a scheduler silent this long is dead, wherever it ran
GRACE = timedelta(seconds=60)  # a firing later than this is "missed" (the catch-up policy decides)
ACTIVE = (state.CLAIMED, state.RUNNING)


def alive(pid: int | None, started: float | None) -> bool:
    """Whether process `pid`, started at `started` (not a later one reusing the pid), still runs."""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - (started or 0)) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Scheduler:
    """One scheduler: `serve()` runs until SIGTERM or Ctrl-C, `once()` fires what is due and waits for it.

    `clock` (default: the wall clock, aware UTC) is injectable so tests can move time.
    """

    def __init__(
        self, settings: config.Settings | None = None, *, clock: Callable[[], datetime] = state.now
    ) -> None:
        self.settings = settings or config.current()
        self.clock = clock
        self.host = socket.gethostname()
        self.id = f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.processes: dict[int, Any] = {}  # firing id -> the run's Popen, for the runs it launched
        self.stopping = False

    # --- lifecycle -------------------------------------------------------------------------------------

    def register(self) -> None:
        """Enter the schedulers table (what other schedulers check to know this one is alive)."""
        moment = state.db_time(self.clock())
        with state.transaction(self.settings) as db:
            db.execute(
                schedulers.insert().values(
                    id=self.id,
                    host=self.host,
                    pid=os.getpid(),
                    pid_started=psutil.Process().create_time(),
                    started=moment,
                    heartbeat=moment,
                )
            )

    def serve(self, poll: float = 5.0) -> None:
        """Tick every `poll` seconds until SIGTERM or SIGINT; then stop the runs it launched."""
        self._on_signals()
        self.register()
        try:
            while not self.stopping:
                try:
                    self.tick()
                except Exception:  # a store or database hiccup: say so, try again at the next tick
                    traceback.print_exc()
                self._wait(poll)
        finally:
            self.shutdown()

    def once(self, poll: float = 1.0) -> None:
        """Fire what is due now, wait for the runs it launched, then leave."""
        self._on_signals()
        self.register()
        try:
            self.tick()
            while not self.stopping and (self.processes or self._claimed()):
                self._wait(poll)
                self._heartbeat()
                self.reap()
                self.launch()
        finally:
            self.shutdown()

    def tick(self) -> None:
        """One round: heartbeat, recover, reap, plan, claim, launch."""
        self._heartbeat()
        self.recover()
        self.reap()
        self.plan()
        self.claim_pending()
        self.launch()

    def shutdown(self) -> None:
        """Stop the runs it launched (SIGTERM: they end KILLED), give back unlaunched claims, unregister."""
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except Exception:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for firing_id, process in list(self.processes.items()):
            self._finish(firing_id, stopped=process.returncode != 0)  # a run that had just finished stays so
        with state.transaction(self.settings) as db:
            db.execute(
                firings.update()
                .where(firings.c.claimed_by == self.id, firings.c.state == state.CLAIMED)
                .values(state=state.PENDING, claimed_by=None, claimed_at=None)
            )
            db.execute(schedulers.delete().where(schedulers.c.id == self.id))

    def _on_signals(self) -> None:
        def stop(signum: int, frame: Any) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def _wait(self, seconds: float) -> None:
        """Sleep between ticks, waking early when asked to stop."""
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.25, max(end - time.monotonic(), 0)))

    def _heartbeat(self) -> None:
        with state.transaction(self.settings) as db:
            db.execute(
                schedulers.update()
                .where(schedulers.c.id == self.id)
                .values(heartbeat=state.db_time(self.clock()))
            )

    def _claimed(self) -> bool:
        with state.transaction(self.settings) as db:
            return bool(
                db.execute(
                    sa.select(firings.c.id).where(
                        firings.c.claimed_by == self.id, firings.c.state == state.CLAIMED
                    )
                ).first()
            )

    # --- recovery --------------------------------------------------------------------------------------

    def recover(self) -> None:
        """Unregister dead schedulers; end their runs (never left RUNNING) and free their unlaunched claims."""
        stale = state.db_time(self.clock() - STALE)
        with state.transaction(self.settings) as db:
            others = db.execute(sa.select(schedulers).where(schedulers.c.id != self.id)).all()
            for other in others:
                # Here, its process tells; elsewhere, its heartbeat (a long tick must not look like death).
                dead = (
                    not alive(other.pid, other.pid_started)
                    if other.host == self.host
                    else other.heartbeat < stale
                )
                if dead:
                    db.execute(schedulers.delete().where(schedulers.c.id == other.id))
            living = sa.select(schedulers.c.id)
            orphans = db.execute(
                sa.select(firings).where(
                    firings.c.state.in_(ACTIVE),
                    sa.or_(firings.c.claimed_by.is_(None), firings.c.claimed_by.not_in(living)),
                )
            ).all()
            db.execute(
                firings.update()
                .where(firings.c.id.in_([o.id for o in orphans if o.state == state.CLAIMED]))
                .values(state=state.PENDING, claimed_by=None, claimed_at=None)
            )
        for orphan in orphans:
            if orphan.state == state.RUNNING and self._take(orphan):
                self._abandon(orphan)

    def _take(self, firing: sa.Row) -> bool:
        """Take over a dead scheduler's firing; False when another scheduler took it first."""
        with state.transaction(self.settings) as db:
            taken = db.execute(
                firings.update()
                .where(
                    firings.c.id == firing.id,
                    firings.c.state == state.RUNNING,
                    firings.c.claimed_by == firing.claimed_by
                    if firing.claimed_by
                    else firings.c.claimed_by.is_(None),
                )
                .values(claimed_by=self.id)
            )
            return taken.rowcount == 1

    def _abandon(self, firing: sa.Row) -> None:
        """A run whose scheduler died: stop its process if it still runs here, end its MLflow run KILLED
        with the reason, and record the firing as abandoned (finished if the run had completed)."""
        if firing.host == self.host and alive(firing.pid, firing.pid_started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(firing.pid, signal.SIGTERM)
            with contextlib.suppress(psutil.Error):
                psutil.Process(firing.pid).wait(timeout=60)
        reason = f"its scheduler {firing.claimed_by} died during the run; ended by scheduler {self.id}"
        run = launch.find_run(
            firing.schedule_id,
            state.iso(state.from_db(firing.fire_time)),
            self.settings,
            monitoring=firing.kind == "monitor",
        )
        if run is not None and run.info.status == "RUNNING":
            launch.close_run(run, reason, self.settings)
        finished = run is not None and run.info.status == "FINISHED"
        self._record(
            firing.id,
            state=state.FINISHED if finished else state.ABANDONED,
            run_id=run.info.run_id if run is not None else None,
            reason=None if finished else reason,
            ended=state.db_time(self.clock()),
        )
        shutil.rmtree(launch.run_folder(self.settings, firing.id) / "release", ignore_errors=True)

    # --- planning ----------------------------------------------------------------------------------------

    def plan(self) -> None:
        """Claim the due firings of every active schedule that has no run going."""
        with state.transaction(self.settings) as db:
            busy = sa.select(firings.c.schedule_id).where(firings.c.state.in_(ACTIVE))
            rows = db.execute(
                sa.select(schedules).where(
                    schedules.c.paused.is_(False),
                    schedules.c.kind.in_([*triggers.TIME_KINDS, "data"]),
                    schedules.c.id.not_in(busy),
                )
            ).all()
        for row in rows:
            try:
                self._plan_data(row) if row.kind == "data" else self._plan_time(row)
            except MlopsError as exc:  # an unreadable source: say so, try again at the next tick
                print(f"mlops-nb scheduler: schedule {row.id}: {exc}", file=sys.stderr)

    def _plan_time(self, row: sa.Row) -> None:
        trigger = triggers.Trigger(row.kind, state.loads(row.trigger))
        now = self.clock()
        if row.next_fire is None:
            return
        due, count = trigger.due(state.from_db(row.next_fire), now)
        if not count:
            return
        latest = due[-1]
        if row.catchup == "all":
            chosen = due
        elif row.catchup == "one" or now - latest <= GRACE:
            chosen = [latest]
        else:
            chosen = []
        missed = count - len(chosen)
        with state.transaction(self.settings) as db:
            moved = db.execute(
                schedules.update()
                .where(schedules.c.id == row.id, schedules.c.next_fire == row.next_fire)
                .values(next_fire=state.db_time(trigger.next_after(now)))
            )
            if moved.rowcount != 1:
                return  # another scheduler planned these firings
            if missed:
                first = state.from_db(row.next_fire)
                db.execute(
                    firings.insert().values(
                        schedule_id=row.id,
                        fire_time=state.db_time(first),
                        kind=row.kind,
                        evidence=state.dumps({"missed": missed}),
                        state=state.SKIPPED,
                        reason=f"{missed} firing(s) from {state.iso(first)} missed while no scheduler ran "
                        f"(or a run was going); catch-up policy {row.catchup!r}",
                    )
                )
            for moment in chosen:
                evidence = {"missed": missed} if missed and moment == latest else None
                self._insert_claimed(db, row, moment, row.kind, evidence)

    def _plan_data(self, row: sa.Row) -> None:
        trigger = triggers.Trigger("data", state.loads(row.trigger))
        watch = state.loads(row.watch)
        current = triggers.observe(trigger, watch["seen"])
        evidence = triggers.change(trigger, watch["baseline"], current)
        new = {"baseline": current if evidence else watch["baseline"], "seen": current}
        if new == watch:
            return
        with state.transaction(self.settings) as db:
            moved = db.execute(
                schedules.update()
                .where(schedules.c.id == row.id, schedules.c.watch == row.watch)
                .values(watch=state.dumps(new))
            )
            if moved.rowcount == 1 and evidence:
                self._insert_claimed(db, row, self.clock(), "data", evidence)

    def _insert_claimed(
        self, db: sa.Connection, row: sa.Row, moment: datetime, kind: str, evidence: Any
    ) -> None:
        db.execute(
            firings.insert().values(
                schedule_id=row.id,
                fire_time=state.db_time(moment),
                kind=kind,
                evidence=None if evidence is None else state.dumps(evidence),
                state=state.CLAIMED,
                claimed_by=self.id,
                claimed_at=state.db_time(self.clock()),
            )
        )

    def claim_pending(self) -> None:
        """Claim raised firings (run-now, drift, decay, manual, freed claims) of schedules with no run going."""
        with state.transaction(self.settings) as db:
            busy = sa.select(firings.c.schedule_id).where(firings.c.state.in_(ACTIVE))
            pending = db.execute(
                sa.select(firings.c.id)
                .where(firings.c.state == state.PENDING, firings.c.schedule_id.not_in(busy))
                .order_by(firings.c.id)
            ).all()
            claimed: set[str] = set()
            for firing in pending:
                row = db.execute(sa.select(firings).where(firings.c.id == firing.id)).first()
                if row is None or row.schedule_id in claimed:
                    continue
                done = db.execute(
                    firings.update()
                    .where(
                        firings.c.id == firing.id,
                        firings.c.state == state.PENDING,
                        firings.c.claimed_by.is_(None),
                    )
                    .values(state=state.CLAIMED, claimed_by=self.id, claimed_at=state.db_time(self.clock()))
                )
                if done.rowcount == 1:
                    claimed.add(row.schedule_id)

    # --- runs ----------------------------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the run of each firing it claimed, the oldest first, one at a time per schedule."""
        with state.transaction(self.settings) as db:
            running = set(
                db.execute(sa.select(firings.c.schedule_id).where(firings.c.state == state.RUNNING)).scalars()
            )
            mine = db.execute(
                sa.select(firings)
                .where(firings.c.claimed_by == self.id, firings.c.state == state.CLAIMED)
                .order_by(firings.c.fire_time)
            ).all()
        for firing in mine:
            if firing.schedule_id in running:
                continue
            running.add(firing.schedule_id)
            self._start(firing)

    def _start(self, firing: sa.Row) -> None:
        folder = launch.run_folder(self.settings, firing.id)
        with state.transaction(self.settings) as db:
            row = db.execute(sa.select(schedules).where(schedules.c.id == firing.schedule_id)).first()
        if row is None:
            self._record(firing.id, state=state.FAILED, reason="its schedule was removed")
            return
        tags = {
            records.TAG_TRIGGER: firing.kind,
            records.TAG_TRIGGER_SCHEDULE: row.id,
            records.TAG_TRIGGER_FIRE_TIME: state.iso(state.from_db(firing.fire_time)),
        }
        release = None
        if row.kind == "monitor":  # a monitoring pass, not a pipeline run
            settings = state.loads(row.trigger)
            begin = lambda log: launch.start_monitor(settings, tags, log, self.settings)  # noqa: E731
        else:
            try:
                pipeline_file, release = launch.pipeline_to_run(row, folder / "release", self.settings)
            except MlopsError as exc:
                self._record(
                    firing.id, state=state.FAILED, reason=str(exc), ended=state.db_time(self.clock())
                )
                return
            tags[records.TAG_RELEASE] = release
            if firing.evidence:  # the tag keeps this much anyway; all of it could overflow the command line
                tags[records.TAG_TRIGGER_EVIDENCE] = firing.evidence[: store.Writer.TAG_VALUE_LIMIT]
                evidence = state.loads(firing.evidence)
                if isinstance(evidence, dict) and isinstance(evidence.get("monitoring_run_id"), str):
                    tags[records.TAG_TRIGGER_MONITORING_RUN] = evidence["monitoring_run_id"]
            begin = lambda log: launch.start(pipeline_file, row.env, tags, log, self.settings)  # noqa: E731
        log = folder / "run.log"
        try:
            process = begin(log)
        except OSError as exc:  # a firing that cannot start must not stop the scheduler at every tick
            reason = f"the run could not start: {exc}"
            self._record(firing.id, state=state.FAILED, reason=reason, ended=state.db_time(self.clock()))
            return
        self.processes[firing.id] = process
        self._record(
            firing.id,
            state=state.RUNNING,
            host=self.host,
            pid=process.pid,
            pid_started=_create_time(process.pid),
            release=release,
            log=str(log),
            started=state.db_time(self.clock()),
        )

    def reap(self) -> None:
        """Record the runs it launched that ended."""
        for firing_id, process in list(self.processes.items()):
            if process.poll() is not None:
                self._finish(firing_id)

    def _finish(self, firing_id: int, *, stopped: bool = False) -> None:
        """Record how a run it launched ended (it stays tracked until that is written)."""
        process = self.processes[firing_id]
        with state.transaction(self.settings) as db:
            firing = db.execute(sa.select(firings).where(firings.c.id == firing_id)).first()
        if firing is None:
            self.processes.pop(firing_id)
            return
        code = process.returncode
        run = launch.find_run(
            firing.schedule_id,
            state.iso(state.from_db(firing.fire_time)),
            self.settings,
            monitoring=firing.kind == "monitor",
        )
        reason = None
        if stopped:
            reason = "the scheduler was stopped during the run"
        elif code != 0:
            reason = _last_error(firing.log) or f"the run exited with code {code}"
        if run is not None and run.info.status == "RUNNING":
            launch.close_run(run, reason or f"the run exited with code {code}", self.settings)
        outcome = state.KILLED if stopped else state.FINISHED if code == 0 else state.FAILED
        self._record(
            firing_id,
            state=outcome,
            run_id=run.info.run_id if run is not None else None,
            reason=reason,
            ended=state.db_time(self.clock()),
        )
        self.processes.pop(firing_id)
        shutil.rmtree(launch.run_folder(self.settings, firing_id) / "release", ignore_errors=True)

    def _record(self, firing_id: int, **values: Any) -> None:
        with state.transaction(self.settings) as db:
            db.execute(firings.update().where(firings.c.id == firing_id).values(**values))


def _create_time(pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).create_time()
    return None


def _last_error(log: str | None) -> str | None:
    """The error line `mlops-nb` printed last in a run's log."""
    if not log:
        return None
    with contextlib.suppress(OSError):
        lines = open(log, encoding="utf-8", errors="replace").read().splitlines()  # noqa: SIM115
        errors = [line for line in lines if line.startswith("mlops-nb: error:")]
        return errors[-1][len("mlops-nb: error:") :].strip() if errors else None
    return None
