"""The ``mlops-nb`` command: parses arguments, calls one core function per sub-command, prints the result.

Each sub-command is a ``_cmd_<name>(args)`` function plus its parser: the notebook and pipeline commands here,
each further area's in its own module of this package (listed in ``AREAS``), whose ``add_commands(sub)``
adds its parsers. Modules import the core lazily, inside the commands, so ``mlops-nb --help`` stays fast.
Errors of the package (MlopsError) print as one readable line and exit 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mlops_nb.exceptions import MlopsError, PipelineFailedError

AREAS: tuple[str, ...] = (
    "data",
    "release",
    "schedule",
    "registry",
    "reproduce",
    "deploy",
    "serving",
    "monitoring",
)  # modules that add sub-commands


def _cmd_summary(args: argparse.Namespace) -> int:
    from mlops_nb.capture import summary

    report = summary.collect(args.run_id, experiment=args.experiment)
    print(json.dumps(report, indent=2, default=str) if args.json else summary.render(report))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from mlops_nb.pipelines import validate

    report = validate.validate(
        args.notebook,
        pipeline=args.pipeline,
        smoke=_pairs(args.param),
        timeout=args.timeout,
        dynamic=not args.static,
    )
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else validate.render(report))
    return 0 if report.passed else 1


def _cmd_run(args: argparse.Namespace) -> int:
    from mlops_nb import records
    from mlops_nb.pipelines import results, run

    _stop_on_sigterm()
    options = run.RunOptions(
        env=args.env,
        parameters=_pairs(args.param),
        progress=not args.no_progress,
        extra_tags={records.TAG_RELEASE: records.RELEASE_WORKING_COPY, **_pairs(args.tag)},
    )
    return _outcome(
        lambda: run.run(args.pipeline, options), results.PipelineResult, results.render, args.json
    )


def _cmd_sweep(args: argparse.Namespace) -> int:
    from mlops_nb.pipelines import sweep

    _stop_on_sigterm()
    options = sweep.SweepOptions(
        grid=sweep.parse_grid(args.grid),
        env=args.env,
        parameters=_pairs(args.param),
        sample=args.random,
        seed=args.seed,
        workers=args.workers,
        executor=args.executor,
        register_all=args.register_all,
        progress=not args.no_progress,
    )
    return _outcome(lambda: sweep.sweep(args.pipeline, options), sweep.SweepResult, sweep.render, args.json)


def _outcome(action: Callable[[], Any], kind: type, render: Callable[[Any], str], as_json: bool) -> int:
    """Run a pipeline or sweep and print its result; a failed one still prints its result, then the error."""

    def show(result: Any) -> None:
        print(json.dumps(result.to_dict(), indent=2, default=str) if as_json else render(result))

    try:
        result = action()
    except PipelineFailedError as exc:
        if not isinstance(exc.result, kind):
            raise
        show(exc.result)
        print(f"mlops-nb: error: {exc}", file=sys.stderr)
        return 1
    show(result)
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a scheduler or CI stopping the command) ends a pipeline like Ctrl-C: its runs are marked
    KILLED and its kernels shut down, instead of the process vanishing with its runs left RUNNING."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def _pairs(pairs: list[str] | None) -> dict[str, str]:
    from mlops_nb.pipelines.parameters import parse_pairs

    return parse_pairs(pairs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops-nb", description="Jupyter-native MLOps on MLflow.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("summary", help="print what a tracked run recorded")
    p.add_argument("run_id", nargs="?", help="run id (default: the latest run)")
    p.add_argument("--experiment", help="restrict --latest lookup to this experiment")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("validate", help="check that a notebook can run as a pipeline (static + smoke run)")
    p.add_argument("notebook", help="the notebook (.ipynb)")
    p.add_argument("--pipeline", help="pipeline file whose smoke parameters and data to use")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="smoke parameter (repeatable)"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the smoke run may take (default 600)"
    )
    p.add_argument("--static", action="store_true", help="static checks only (no kernel)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("run", help="run a pipeline: ingestion, gates, training, evaluation, registration")
    p.add_argument("pipeline", help="pipeline file (YAML)")
    p.add_argument("--env", help="environment of the pipeline file (dev, staging, prod)")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="notebook parameter (repeatable)"
    )
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag of the pipeline run (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("sweep", help="run a pipeline once per point of a parameter grid, register the best")
    p.add_argument("pipeline", help="pipeline file (YAML)")
    p.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2", help="values per parameter")
    p.add_argument("--random", type=int, metavar="N", help="run N random points of the grid")
    p.add_argument("--seed", type=int, help="seed of --random")
    p.add_argument(
        "--workers", type=int, help="parallel points (default: the environment's resources.workers or 2)"
    )
    p.add_argument("--executor", metavar="dask://HOST:PORT", help="run points on a Dask distributed cluster")
    p.add_argument(
        "--register-all", action="store_true", help="register every passing point, not only the best"
    )
    p.add_argument("--env", help="environment of the pipeline file")
    p.add_argument(
        "-p", "--param", action="append", metavar="NAME=VALUE", help="fixed parameter for all points"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_sweep)
    for area in AREAS:
        importlib.import_module(f"mlops_nb.cli.{area}").add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mlops-nb``."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except MlopsError as exc:
        print(f"mlops-nb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlops-nb: interrupted", file=sys.stderr)
        return 130
