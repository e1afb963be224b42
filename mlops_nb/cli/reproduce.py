"""``mlops-nb reproduce``: run a model version's pipeline again from its record and compare the metrics."""

from __future__ import annotations

import argparse
import json
import sys

from mlops_nb.exceptions import UsageError


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from mlops_nb.pipelines import reproduce

    if args.run is None and (args.model is None or args.version is None):
        raise UsageError(
            "Name what to reproduce: MODEL --version N, or --run RUN_ID.",
            hint="E.g. `mlops-nb reproduce iris-classifier --version 3`.",
        )
    if args.run is not None and (args.model is not None or args.version is not None):
        raise UsageError("Give either MODEL --version N or --run RUN_ID, not both.")
    options = reproduce.ReproduceOptions(
        tolerance=args.tolerance,
        data=args.data,
        allow_data_change=args.allow_data_change,
        strict_env=args.strict_env,
        progress=not args.no_progress and not args.json,
    )
    found = reproduce.reproduce(args.model, args.version, run_id=args.run, options=options)
    print(json.dumps(found.to_dict(), indent=2, default=str) if args.json else reproduce.render(found))
    if not found.matched:
        print(f"mlops-nb: not reproduced: {found.reason}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `reproduce` to the `mlops-nb` parser."""
    from mlops_nb.records import REPRODUCE_DATA_MODES as MODES  # light: the parser is built for every command

    p = sub.add_parser(
        "reproduce",
        help="run a model version's pipeline again from its record and compare the metrics",
        usage="mlops-nb reproduce MODEL --version N [options]\n       mlops-nb reproduce --run RUN_ID [options]",
    )
    p.add_argument("model", nargs="?", help="registered model name")
    p.add_argument("--version", help="the model version to reproduce")
    p.add_argument(
        "--run", metavar="RUN_ID", help="a pipeline run (or one of its steps) instead of a version"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="largest absolute difference of a metric that still matches (default 0: exact)",
    )
    p.add_argument(
        "--data",
        choices=MODES,
        default="auto",
        help="where the data comes from: the dataset version, the ingested snapshot the run kept, or the "
        "source checked against its digest (default auto: the first that exists, in that order)",
    )
    p.add_argument(
        "--allow-data-change", action="store_true", help="run on the source even if it changed since"
    )
    p.add_argument(
        "--strict-env", action="store_true", help="refuse when the installed packages differ from the record"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=_cmd_reproduce)
