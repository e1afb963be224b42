"""``mlops-nb release`` (make, list, show, roll back releases of a pipeline per environment) and ``mlops-nb ci``."""

from __future__ import annotations

import argparse
import json
import sys

from mlops_nb.exceptions import ReleaseRefusedError, UsageError

_ACTIONS = ("list", "show", "rollback")


def _print(args: argparse.Namespace, payload: object, text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def _cmd_release(args: argparse.Namespace) -> int:
    from mlops_nb.pipelines import release

    words = args.target
    if words[0] in _ACTIONS:
        if len(words) != 2:
            raise UsageError(f"Usage: mlops-nb release {words[0]} PIPELINE ...", hint="Name one pipeline.")
        return _manage(args, words[0], release.pipeline_name(words[1]))
    if len(words) != 1 or not args.to:
        raise UsageError(
            "Usage: mlops-nb release PIPELINE_FILE --to ENV [--force --reason TEXT]",
            hint="Or `mlops-nb release list|show|rollback PIPELINE`.",
        )
    if args.reason and not args.force:
        raise UsageError("--reason goes with --force (it records why the release order was overridden).")
    try:
        made = release.release(words[0], args.to, force=args.force, reason=args.reason, timeout=args.timeout)
    except ReleaseRefusedError as exc:
        if isinstance(exc.release, release.Release):
            _print(args, exc.release.to_dict(), release.render([exc.release]))
        print(f"mlops-nb: error: {exc}", file=sys.stderr)
        return 1
    forced = f" (release order overridden: {made.forced_reason})" if made.forced_reason else ""
    _print(args, made.to_dict(), f"released {made.pipeline} {made.tag_value}{forced}: smoke test passed")
    return 0


def _manage(args: argparse.Namespace, action: str, pipeline: str) -> int:
    from mlops_nb.pipelines import release

    if action == "list":
        found = release.releases(pipeline, args.env)
        _print(args, [r.to_dict() for r in found], release.render(found))
        return 0
    if not args.env:
        raise UsageError(f"`mlops-nb release {action}` needs --env ENV.", hint="E.g. --env prod.")
    if action == "show":
        shown = release.get(pipeline, args.env, args.number)
        _print(args, shown.to_dict(), release.render([shown]))
        return 0
    back = release.rollback(pipeline, args.env, reason=args.reason)
    _print(args, back.to_dict(), f"rolled back {pipeline} in {args.env}: {back.tag_value} is current again")
    return 0


def _cmd_ci_init(args: argparse.Namespace) -> int:
    from mlops_nb.pipelines import ci

    print(f"wrote {ci.init(force=args.force)}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `release` and `ci` to the `mlops-nb` parser."""
    p = sub.add_parser(
        "release",
        help="release a pipeline to an environment (smoke-tested, numbered), or list/show/rollback releases",
        usage="mlops-nb release PIPELINE_FILE --to ENV [--force --reason TEXT] [--json]\n"
        "       mlops-nb release list PIPELINE [--env ENV] [--json]\n"
        "       mlops-nb release show PIPELINE --env ENV [--number N] [--json]\n"
        "       mlops-nb release rollback PIPELINE --env ENV [--reason TEXT] [--json]",
    )
    p.add_argument(
        "target", nargs="+", metavar="PIPELINE", help="pipeline file, or list|show|rollback PIPELINE"
    )
    p.add_argument("--to", metavar="ENV", help="environment to release to")
    p.add_argument("--env", help="environment (list, show, rollback)")
    p.add_argument("--number", type=int, help="release number (show; default: the current one)")
    p.add_argument("--force", action="store_true", help="override the release order (needs --reason)")
    p.add_argument("--reason", help="why (recorded with --force and rollback)")
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the smoke test may take (default 600)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("ci", help="continuous integration of the project's pipelines")
    ci_sub = p.add_subparsers(dest="ci_command", required=True)
    q = ci_sub.add_parser("init", help="write .github/workflows/mlops-nb.yml from the pipeline files")
    q.add_argument("--force", action="store_true", help="overwrite an existing workflow")
    q.set_defaults(func=_cmd_ci_init)
