"""Launching a firing's run, and closing the MLflow record of a run that ended badly.

A triggered run runs the environment's current release (``mlops_nb.pipelines.release``), materialized into
the firing's own folder, as ``python -m mlops_nb.cli run`` in its own process: a crashing run never takes
the scheduler down. On Linux the run gets SIGTERM when its scheduler dies (it then marks itself KILLED).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlops_nb import config, records, store
from mlops_nb.exceptions import MlopsError, NotFoundError


@dataclass(frozen=True)
class Launched:
    """A run's process as started."""

    process: subprocess.Popen[bytes]
    release: str
    log: Path


class NoRelease(MlopsError):
    """The environment has no release to run and the schedule may not run the working copy."""


def run_folder(settings: config.Settings, firing_id: int) -> Path:
    """Where a firing's materialized release (``release/``, removed when the run ends) and log
    (``run.log``) live."""
    return settings.state_dir / "scheduler" / "runs" / str(firing_id)


def pipeline_to_run(schedule: sa.Row, folder: Path, settings: config.Settings) -> tuple[Path, str]:
    """The pipeline file to run for `schedule` and the value of its release tag: the environment's current
    release, materialized into `folder`; the working copy only when the schedule allows it and the
    environment has no release."""
    from mlops_nb.pipelines import release as release_mod

    current = release_mod.current(schedule.pipeline, schedule.env, settings)
    if current is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return release_mod.materialize(current, folder), current.tag_value
    if schedule.working_copy and schedule.pipeline_file:
        return Path(schedule.pipeline_file), records.RELEASE_WORKING_COPY
    raise NoRelease(
        f"no release of {schedule.pipeline} in {schedule.env}: run "
        f"`mlops-nb release {schedule.pipeline_file or schedule.pipeline} --to {schedule.env}`",
        hint="or add the schedule with --working-copy to run the working copy until there is a release.",
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(pipeline_file: Path, env: str, tags: dict[str, str], log: Path, settings: config.Settings) -> Any:
    """Start ``mlops-nb run`` of `pipeline_file` in `env` with `tags` on its pipeline run; its output goes
    to `log`."""
    return _launch(["run", str(pipeline_file), "--env", env, "--no-progress", "--json"], tags, log, settings)


def start_monitor(trigger: dict[str, Any], tags: dict[str, str], log: Path, settings: config.Settings) -> Any:
    """Start ``mlops-nb monitor`` of a monitor schedule's model and alias over its window, with `tags` on
    the monitoring run; its output goes to `log`."""
    arguments = ["monitor", trigger["model"], "--alias", trigger["alias"], "--window", trigger["window"]]
    return _launch(arguments, tags, log, settings)


def _launch(arguments: list[str], tags: dict[str, str], log: Path, settings: config.Settings) -> Any:
    """Start ``mlops-nb <arguments> --tag key=value...`` in the project, in its own session (ended with this
    process on Linux), its output appended to `log`."""
    command = [sys.executable, "-m", "mlops_nb.cli", *arguments]
    for key, value in tags.items():
        command += ["--tag", f"{key}={value}"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=settings.root,
            env={**os.environ, records.ENV_PROJECT: str(settings.root)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )


def find_run(schedule_id: str, fire_time: str, settings: config.Settings, *, monitoring: bool = False) -> Any:
    """The MLflow pipeline run (or with `monitoring`, the monitoring run) of a firing, found by its trigger
    tags, or None."""
    client = store.client(settings)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return None
    kind = (
        f"tags.`{records.TAG_MONITOR_MODEL}` != ''"
        if monitoring
        else f"tags.`{records.TAG_PIPELINE_KIND}` = '{records.PIPELINE_KIND_PIPELINE}'"
    )
    runs = client.search_runs(
        experiments,
        f"tags.`{records.TAG_TRIGGER_SCHEDULE}` = '{schedule_id}' and "
        f"tags.`{records.TAG_TRIGGER_FIRE_TIME}` = '{fire_time}' and {kind}",
        max_results=1,
    )
    return runs[0] if runs else None


def close_run(run: Any, reason: str, settings: config.Settings) -> None:
    """End a pipeline run left RUNNING (and its steps) as KILLED, with `reason` in its error tags."""
    client = store.client(settings)
    writer = store.Writer(client)
    steps = client.search_runs(
        [run.info.experiment_id],
        f"tags.`{records.TAG_PIPELINE_RUN}` = '{run.info.run_id}' and attributes.status = 'RUNNING'",
    )
    tags = {
        records.TAG_ERROR: reason,
        records.TAG_ERROR_KIND: records.ERROR_KIND_ABANDONED,
        records.NOTE: f"KILLED: {reason}",
    }
    for each in [*steps, run]:
        with contextlib.suppress(NotFoundError):
            writer.set_tags(each.info.run_id, tags)
            writer.end_run(each.info.run_id, "KILLED")
