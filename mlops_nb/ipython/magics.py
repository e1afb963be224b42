"""The ``%mlops`` line magic and the IPython events that record execution order (the IPython adapter)."""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
from typing import Any, NoReturn

from mlops_nb.exceptions import MlopsError, UsageError

USAGE = """\
%mlops track [--experiment NAME] [--run-name NAME] [--no-autolog] [--notebook PATH]
%mlops config NAME=VALUE [NAME=VALUE ...]
%mlops split NAME=VARIABLE [NAME=VARIABLE ...] [--seed N]
%mlops status
%mlops stop
%mlops compare [--experiment NAME] [--last N] [--metric M]"""


class _Help(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}.\nUsage:\n{USAGE}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _Help()

    def print_help(self, file: Any = None) -> None:
        print(USAGE)


def _parser() -> _Parser:
    parser = _Parser(prog="mlops")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    track = sub.add_parser("track")
    track.add_argument("--experiment", "-e")
    track.add_argument("--run-name", "-n")
    track.add_argument("--no-autolog", action="store_true")
    track.add_argument("--notebook")
    config = sub.add_parser("config")
    config.add_argument("pairs", nargs="*")
    split = sub.add_parser("split")
    split.add_argument("pairs", nargs="*")
    split.add_argument("--seed", type=int)
    sub.add_parser("status")
    sub.add_parser("stop")
    compare = sub.add_parser("compare")
    compare.add_argument("--experiment", "-e")
    compare.add_argument("--last", type=int, default=20)
    compare.add_argument("--metric", "-m")
    return parser


def _pairs(tokens: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep or not name.isidentifier() or not value:
            raise UsageError(f"`{token}` is not NAME=VALUE.", hint=f"Example: %mlops {what}")
        pairs[name] = value
    return pairs


def _typed(text: str) -> Any:
    """`0.5` → 0.5, `3` → 3, `True` → True, `[1, 2]` → [1, 2]; anything else stays text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _print_status(info: dict[str, Any]) -> None:
    if not info.get("active"):
        print("No tracked run is active. Start one with `%mlops track`.")
        return
    git = info["git"]
    lines = [
        f"run        {info['run_id']}  ({info['mode']})",
        f"experiment {info['experiment']}",
        f"notebook   {info['notebook'] or '(unknown: pass --notebook PATH)'}",
        "git        "
        + (
            "not a git repository"
            if git is None
            else f"{git['commit'][:12]} on {git['branch']}" + (" (dirty)" if git["dirty"] else "")
        ),
        f"params     {len(info['params'])}: "
        + ", ".join(f"{k}={v!r}" for k, v in list(info["params"].items())[:12]),
        "splits     "
        + (
            ", ".join(f"{n} ({s['rows']} rows, {s['digest'][:12]})" for n, s in info["splits"].items())
            or "none"
        ),
        "metrics    {written} written, {pending} pending, {spooled} spooled".format(**info["metrics"]),
    ]
    if info.get("store_error"):
        lines.append(f"store      unreachable ({info['store_error']}); points are kept in the spool")
    lines += [f"WARNING    {w}" for w in info["warnings"]]
    print("\n".join(lines))


def _run(line: str, shell: Any) -> None:
    from mlops_nb.capture import session

    try:
        tokens = shlex.split(line)
    except ValueError as exc:  # e.g. an unterminated quote
        raise UsageError(
            f"Cannot read `%mlops {line}`: {exc}.", hint="Close the quotes around a value."
        ) from None
    try:
        args = _parser().parse_args(tokens)
    except _Help:
        return
    if args.command is None:
        raise UsageError(f"Missing sub-command.\nUsage:\n{USAGE}")
    if args.command == "track":
        already = session.status().get("active")
        current = session.track(
            experiment=args.experiment,
            run_name=args.run_name,
            autolog=not args.no_autolog,
            notebook=args.notebook,
            user_ns=shell.user_ns,
        )
        verb = "Resuming" if already else "Attached to" if current.mode == "pipeline" else "Tracking"
        print(f"{verb} run {current.run_id} in experiment {current.experiment_name!r} ({current.mode}).")
        for warning in current.warnings.values():
            print(f"WARNING: {warning}")
    elif args.command == "config":
        if not args.pairs:
            raise UsageError(
                "`%mlops config` needs NAME=VALUE pairs.", hint="Example: %mlops config model=logreg C=0.5"
            )
        values = {k: _typed(v) for k, v in _pairs(args.pairs, "config model=logreg C=0.5").items()}
        session.active().log_config(values)
        print("Config: " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
    elif args.command == "split":
        if not args.pairs:
            raise UsageError(
                "`%mlops split` needs NAME=VARIABLE pairs.",
                hint="Example: %mlops split train=X_train test=X_test",
            )
        names = _pairs(args.pairs, "split train=X_train test=X_test")
        missing = [v for v in names.values() if v not in shell.user_ns]
        if missing:
            raise UsageError(
                f"Name(s) not defined in the notebook: {', '.join(missing)}.",
                hint="Run the cell that creates them first.",
            )
        profiles = session.active().log_split({k: shell.user_ns[v] for k, v in names.items()}, seed=args.seed)
        for name, profile in profiles.items():
            print(
                f"Split {name}: {profile['num_rows']} rows × {profile['num_columns']} columns, digest {profile['digest']}"
            )
        for warning in session.active().warnings.values():
            if "∩" in warning:
                print(f"WARNING: rows shared between splits: {warning}")
    elif args.command == "status":
        _print_status(session.status())
    elif args.command == "stop":
        run_id = session.stop()
        print(f"Stopped run {run_id}." if run_id else "No tracked run is active; nothing to stop.")
    elif args.command == "compare":
        from IPython.display import display

        from mlops_nb.ipython import widgets

        display(widgets.compare_widget(experiment=args.experiment, last=args.last, metric=args.metric))


def mlops(line: str) -> None:
    """%mlops track | config | split | status | stop | compare (``%mlops --help``).

    A mistake fails the cell, shown as its message without a traceback (IPython's UsageError), so that
    "Run All", papermill and `validate` stop at this cell rather than run on untracked."""
    from IPython import get_ipython
    from IPython.core.error import UsageError as CellUsageError

    try:
        _run(line, get_ipython())
    except MlopsError as exc:
        raise CellUsageError(f"mlops: {exc}") from None


def register(ipython: Any) -> None:
    """Register ``%mlops`` and the execution-order events on an IPython shell."""
    from mlops_nb.capture import session

    session._host["user_ns"] = ipython.user_ns
    session._host["raw_history"] = ipython.history_manager.input_hist_raw

    def post_run_cell(result: Any) -> None:
        info = result.info
        source = info.raw_cell if info is not None else ""
        session.execution_log.record(
            result.execution_count,
            source,
            getattr(info, "cell_id", None),
            result.error_in_exec is not None or result.error_before_exec is not None,
        )
        try:
            session.cell_ran(source or "")
        except Exception as exc:  # a hook must not break the user's cell
            print(f"mlops: the parameters could not be recorded: {exc}", file=sys.stderr)

    if not getattr(ipython, "_mlops_nb_registered", False):
        ipython.events.register("post_run_cell", post_run_cell)
        ipython._mlops_nb_registered = True
    ipython.register_magic_function(mlops, "line", "mlops")
