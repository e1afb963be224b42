"""The ``mlops-nb`` command: parses arguments, calls one core function per sub-command, prints the result.

Each sub-command is a ``_cmd_<name>(args)`` function plus its parser in ``_parser()``.
Errors of the package (MlopsError) print as one readable line and exit 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from mlops_nb.exceptions import MlopsError


def _cmd_summary(args: argparse.Namespace) -> int:
    from mlops_nb.capture import summary

    report = summary.collect(args.run_id, experiment=args.experiment)
    print(json.dumps(report, indent=2, default=str) if args.json else summary.render(report))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-nb", description="Jupyter-native MLOps on MLflow.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print what a tracked run recorded")
    p.add_argument("run_id", nargs="?", help="run id (default: the latest run)")
    p.add_argument("--experiment", help="restrict --latest lookup to this experiment")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mlops-nb``."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except MlopsError as exc:
        print(f"mlops-nb: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
