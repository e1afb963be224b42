"""The REST API's glue to the scheduler package (mlops_nb.scheduling): request bodies checked and turned into
its calls, its answers into the contract's JSON (api/openapi.yaml: ScheduleList, ScheduleHistory). Every call
to mlops_nb.scheduling goes through this module."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlops_nb.config import Settings
from mlops_nb.exceptions import UsageError
from mlops_nb.explore.notebook_pipelines import project_file

_SCHEDULE_ID = re.compile(r"^[0-9a-f]{1,32}$")
_FIELDS = frozenset({"pipeline_file", "env", "kind", "cron", "tz", "every", "min_rows", "working_copy"})
_KIND_FIELDS = {"cron": {"cron", "tz"}, "interval": {"every"}, "data": {"min_rows"}}
KINDS = tuple(_KIND_FIELDS)
ACTIONS = ("pause", "resume", "run-now")


def schedule_id(value: object) -> str:
    """`value` as a schedule id, or a UsageError."""
    if not isinstance(value, str) or not _SCHEDULE_ID.match(value):
        raise UsageError(f"{value!r} is not a schedule id.", hint="`GET /schedules` lists the schedule ids.")
    return value


def list_schedules(settings: Settings) -> dict[str, Any]:
    """Every schedule with its trigger, next fire time, status and last firing."""
    from mlops_nb.scheduling import schedules

    return {"schedules": [item.to_dict() for item in schedules.list_schedules(settings)]}


def history(schedule: str, settings: Settings) -> dict[str, Any]:
    """The schedule's trigger history, newest first."""
    from mlops_nb.scheduling import schedules

    return {"id": schedule, "firings": schedules.history(schedule_id(schedule), settings=settings)}


def act(schedule: str, action: str, settings: Settings) -> dict[str, Any]:
    """Pause, resume or run the schedule now."""
    from mlops_nb.scheduling import schedules

    schedule = schedule_id(schedule)
    if action == "pause":
        schedules.pause(schedule, settings)
    elif action == "resume":
        schedules.resume(schedule, settings)
    elif action == "run-now":
        return {"id": schedule, "action": action, "firing": schedules.run_now(schedule, settings)}
    else:
        raise UsageError(f"Unknown schedule action {action!r}.", hint=f"Use one of {', '.join(ACTIONS)}.")
    return {"id": schedule, "action": action, "firing": None}


def remove(schedule: str, settings: Settings) -> dict[str, Any]:
    """Delete the schedule and its trigger history."""
    from mlops_nb.scheduling import schedules

    schedules.remove(schedule_id(schedule), settings)
    return {"id": schedule, "action": "remove", "firing": None}


def _text(request: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = request.get(name)
    if value is None or value == "":
        if required:
            raise UsageError(f"{name} is missing.", hint="See CreateSchedule in api/openapi.yaml.")
        return None
    if not isinstance(value, str) or len(value) > 500:
        raise UsageError(f"{name} must be a string of at most 500 characters, not {value!r}.")
    return value


def add(request: object, root: Path, settings: Settings) -> dict[str, Any]:
    """Create a schedule from a CreateSchedule body; returns its id and the schedule as listed."""
    from mlops_nb.scheduling import schedules

    if not isinstance(request, dict):
        raise UsageError('The request body must be a JSON object like {"pipeline_file": ..., "env": ...}.')
    unknown = sorted(set(request) - _FIELDS)
    if unknown:
        raise UsageError(f"Unknown field(s) {unknown}.", hint=f"Known: {', '.join(sorted(_FIELDS))}.")
    path = project_file(_text(request, "pipeline_file", required=True) or "", root, (".yaml", ".yml"))
    env = _text(request, "env", required=True) or ""
    kind = _text(request, "kind", required=True)
    if kind not in KINDS:
        raise UsageError(f"kind {kind!r} is not a schedule trigger.", hint=f"Use one of {', '.join(KINDS)}.")
    stray = sorted(
        name
        for name in ("cron", "tz", "every", "min_rows")
        if request.get(name) not in (None, "") and name not in _KIND_FIELDS[kind]
    )
    if stray:
        raise UsageError(f"{', '.join(stray)} do(es) not go with kind {kind!r}.")
    min_rows = request.get("min_rows")
    if min_rows is not None and (not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1):
        raise UsageError(f"min_rows must be a whole number of at least 1, not {min_rows!r}.")
    working_copy = request.get("working_copy", False)
    if not isinstance(working_copy, bool):
        raise UsageError(f"working_copy must be true or false, not {working_copy!r}.")
    new_id = schedules.add(
        path,
        env,
        cron=_text(request, "cron", required=kind == "cron") if kind == "cron" else None,
        tz=_text(request, "tz") if kind == "cron" else None,
        every=_text(request, "every", required=kind == "interval") if kind == "interval" else None,
        on_data=kind == "data",
        min_rows=min_rows if kind == "data" else None,
        working_copy=working_copy,
        settings=settings,
    )
    listed = [item.to_dict() for item in schedules.list_schedules(settings) if item.id == new_id]
    return {"id": new_id, "schedule": listed[0] if listed else None}
