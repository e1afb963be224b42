"""``mlops-nb schedule ...``, ``mlops-nb scheduler`` and ``mlops-nb trigger``: schedules and triggered runs."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _cmd_add(args: argparse.Namespace) -> int:
    from mlops_nb.scheduling import schedules

    print(
        schedules.add(
            args.pipeline,
            args.env,
            cron=args.cron,
            tz=args.tz,
            every=args.every,
            on_data=args.on_data,
            min_rows=args.min_rows,
            catchup=args.catchup,
            working_copy=args.working_copy,
        )
    )
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from mlops_nb.scheduling import schedules

    result = schedules.sync(args.pipeline)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(", ".join(f"{what}: {' '.join(ids) or '-'}" for what, ids in result.items()))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from mlops_nb.scheduling import schedules

    found = schedules.list_schedules()
    if args.json:
        print(json.dumps([s.to_dict() for s in found], indent=2))
        return 0
    if not found:
        print("No schedules. Add one with `mlops-nb schedule add PIPELINE --env ENV --every 6h`.")
        return 0
    rows = [("ID", "PIPELINE", "ENV", "TRIGGER", "STATUS", "NEXT FIRE", "LAST")]
    for s in found:
        last = s.last or {}
        last_text = f"{last['state']} {last['fire_time']}" if last else "-"
        rows.append((s.id, s.pipeline, s.env, s.trigger, s.status, s.next_fire or "-", last_text))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from mlops_nb.scheduling import schedules

    found = schedules.history(args.id, limit=args.limit)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for f in found:
        line = f"{f['fire_time']}  {f['kind']:<8} {f['state']:<9} {f['run_id'] or '-'}"
        print(line + (f"  {f['reason']}" if f["reason"] else ""))
    return 0


def _simple(action: str) -> Any:
    def command(args: argparse.Namespace) -> int:
        from mlops_nb.scheduling import schedules

        result = getattr(schedules, action)(args.id)
        print(
            f"firing {result} of schedule {args.id} queued" if action == "run_now" else f"{args.id} {action}d"
        )
        return 0

    return command


def _cmd_scheduler(args: argparse.Namespace) -> int:
    from mlops_nb.scheduling.scheduler import Scheduler

    scheduler = Scheduler()
    if args.once:
        scheduler.once()
    else:
        scheduler.serve(args.poll)
    return 0


def _cmd_trigger(args: argparse.Namespace) -> int:
    from mlops_nb.exceptions import UsageError
    from mlops_nb.scheduling import schedules

    try:
        evidence = json.loads(args.evidence) if args.evidence else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--evidence is not JSON: {exc}.", hint="e.g. --evidence '{\"psi\": 0.31}'") from exc
    firing = schedules.raise_trigger(args.pipeline, args.env, args.kind, evidence)
    print(f"firing {firing}: {args.kind} trigger of {args.pipeline} in {args.env} queued")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``schedule``, ``scheduler`` and ``trigger``."""
    p = sub.add_parser("schedule", help="schedules of pipeline runs (cron, interval, on new data)")
    commands = p.add_subparsers(dest="schedule_command", required=True)

    a = commands.add_parser("add", help="add a schedule; prints its id")
    a.add_argument("pipeline", help="pipeline file (YAML)")
    a.add_argument("--env", required=True, help="environment whose current release runs")
    a.add_argument("--cron", metavar="EXPR", help='cron expression, e.g. "0 3 * * *"')
    a.add_argument("--tz", help="time zone of --cron (default UTC), e.g. Europe/Paris")
    a.add_argument("--every", metavar="DURATION", help="interval, e.g. 30s, 15m, 6h")
    a.add_argument("--on-data", action="store_true", help="fire on a new file or changed data in the source")
    a.add_argument("--min-rows", type=int, metavar="N", help="with --on-data: fire on N new rows or more")
    a.add_argument(
        "--catchup",
        choices=("none", "one", "all"),
        default="one",
        help="firings missed while no scheduler ran: none, one run (default), all",
    )
    a.add_argument(
        "--working-copy",
        action="store_true",
        help="run the working copy while the environment has no release (default: refuse)",
    )
    a.set_defaults(func=_cmd_add)

    a = commands.add_parser(
        "sync", help="make schedules of the triggers a pipeline file's environments declare"
    )
    a.add_argument("pipeline", help="pipeline file (YAML)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=_cmd_sync)

    a = commands.add_parser("list", help="list schedules with next fire time and last firing")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=_cmd_list)

    a = commands.add_parser("history", help="a schedule's firings (trigger history), newest first")
    a.add_argument("id", help="schedule id")
    a.add_argument("--limit", type=int, default=50, help="how many firings (default 50)")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a.set_defaults(func=_cmd_history)

    for name, action, text in (
        ("pause", "pause", "stop a schedule firing"),
        ("resume", "resume", "let a paused schedule fire again"),
        ("remove", "remove", "delete a schedule"),
        ("run-now", "run_now", "run a schedule's pipeline once now"),
    ):
        a = commands.add_parser(name, help=text)
        a.add_argument("id", help="schedule id")
        a.set_defaults(func=_simple(action))

    p = sub.add_parser("scheduler", help="the scheduler: fires schedules and triggers (its own process)")
    p.add_argument("--once", action="store_true", help="fire what is due, wait for those runs, exit")
    p.add_argument("--poll", type=float, default=5.0, metavar="SECONDS", help="seconds between checks")
    p.set_defaults(func=_cmd_scheduler)

    p = sub.add_parser("trigger", help="raise a drift, decay or manual trigger: one run of the release")
    p.add_argument("pipeline", help="pipeline file or name")
    p.add_argument("--env", required=True, help="environment")
    p.add_argument("--kind", required=True, choices=("drift", "decay", "manual"), help="trigger kind")
    p.add_argument("--evidence", metavar="JSON", help='why, e.g. \'{"psi": 0.31, "column": "x1"}\'')
    p.set_defaults(func=_cmd_trigger)
