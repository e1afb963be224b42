"""``mlops-nb monitor`` (a monitoring pass, or ``--every`` a schedule of them) and ``mlops-nb feedback``
(ground truth arriving later as a file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_monitor(args: argparse.Namespace) -> int:
    from mlops_nb.monitoring import service

    if args.every:
        from mlops_nb.exceptions import UsageError

        extra = [
            o
            for o, given in (
                ("--since", args.since),
                ("--version", args.version),
                ("--json", args.json),
                ("-o", args.output),
                ("--log-dir", args.log_dir),
                ("--pipeline", args.pipeline),
                ("--no-record", args.no_record),
            )
            if given
        ]
        if extra:
            raise UsageError(
                f"--every adds a schedule; {', '.join(extra)} do not go with it.",
                hint="Give --every DURATION [--alias A] [--window DURATION].",
            )
        schedule_id = service.schedule(args.model, args.alias, args.every, window=args.window)
        print(schedule_id)
        return 0
    result = service.monitor(
        args.model,
        args.alias,
        version=args.version,
        last=args.window,
        since=args.since,
        log_dir=args.log_dir,
        pipeline=args.pipeline,
        record=not args.no_record,
        tags=dict(item.split("=", 1) for item in args.tag or []),
    )
    if args.output:
        from mlops_nb.monitoring import report

        Path(args.output).write_text(report.render(result), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(service.render(result))
    return 0


def _cmd_feedback(args: argparse.Namespace) -> int:
    from mlops_nb.monitoring import service

    stored = service.load_feedback(
        args.file,
        model=args.model,
        id_column=args.id_column,
        label_column=args.label_column,
        row_column=args.row_column,
    )
    print(
        f"{stored['labels']} labels for {stored['requests']} requests of {stored['model']} stored in {stored['folder']}"
        + (f"; {stored['skipped']} rows without a label skipped" if stored["skipped"] else ""),
        file=sys.stdout,
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``monitor`` and ``feedback``."""
    p = sub.add_parser("monitor", help="judge a served model: drift, prediction drift, decay, service health")
    p.add_argument("model", help="registered model name")
    p.add_argument("--alias", default="champion", help="the alias whose version is judged (default champion)")
    p.add_argument("--version", help="judge this version instead of the alias's")
    span = p.add_mutually_exclusive_group()
    span.add_argument(
        "--window", metavar="DURATION", help="the last DURATION of the log, e.g. 1h (default: all)"
    )
    span.add_argument("--since", metavar="TIME", help="the log since TIME (ISO 8601, UTC when naive)")
    p.add_argument("--json", action="store_true", help="one JSON object: features, prediction, decay, health")
    p.add_argument("-o", "--output", metavar="FILE", help="write the HTML report to FILE")
    p.add_argument("--log-dir", help="the inference log folder (default .mlops/inference/MODEL)")
    p.add_argument(
        "--pipeline", help="pipeline file whose monitoring: thresholds apply (default: the version's)"
    )
    p.add_argument("--no-record", action="store_true", help="record no MLflow run and raise no trigger")
    p.add_argument("--every", metavar="DURATION", help="add a schedule that monitors every DURATION instead")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_monitor)

    p = sub.add_parser(
        "feedback", help="store ground truth (labels by request id) from a CSV or Parquet file"
    )
    p.add_argument("file", help="CSV or Parquet file")
    p.add_argument("--id-column", required=True, help="the column holding the request ids")
    p.add_argument("--label-column", required=True, help="the column holding the true labels or values")
    p.add_argument("--row-column", help="the column holding the row within the request (default: every row)")
    p.add_argument("--model", help="registered model (default: the only model with an inference log)")
    p.set_defaults(func=_cmd_feedback)
