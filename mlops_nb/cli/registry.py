"""``mlops-nb promote | rollback | history | approve | pending | audit``: moving a model's aliases, with
gates, four eyes and the record of every move."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _print(args: argparse.Namespace, payload: Any, text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if getattr(args, "json", False) else text)


def _gates_table(gates: list[Any]) -> str:
    from mlops_nb.gates.report import table

    rows = [(gate.name, "PASS" if gate.passed else "FAIL", gate.message) for gate in gates]
    return table(("gate", "verdict", "message"), rows)


def _moves_table(moves: list[Any]) -> str:
    from mlops_nb.gates.report import table

    if not moves:
        return "(none)"
    rows = [
        (
            m.time,
            m.version,
            m.alias,
            m.action,
            m.actor,
            "yes" if m.forced else "no",
            m.previous_version,
            m.reason,
        )
        for m in moves
    ]
    headers = ("time", "version", "alias", "action", "actor", "forced", "previous", "reason")
    return table(headers, rows)


def _done(args: argparse.Namespace, move: Any) -> int:
    forced = f" (gates overridden: {move.reason})" if move.forced else ""
    if move.action == "request":
        text = (
            f"{move.model} v{move.version} waits for approval to {move.alias}: another person runs "
            f"`mlops-nb approve {move.model} --version {move.version}"
            + (f" --env {move.env}`" if move.env else "`")
        )
    else:
        was = f" (was v{move.previous_version})" if move.previous_version else ""
        text = f"{move.model}@{move.alias} is v{move.version}{was}: {move.action} by {move.actor}{forced}"
    _print(args, move.to_dict(), _gates_table(move.gates) + "\n" + text)
    return 0


def _refused(args: argparse.Namespace, exc: Any) -> int:
    _print(args, {"refused": exc.message, "gates": [g.to_dict() for g in exc.gates]}, _gates_table(exc.gates))
    print(f"mlops-nb: error: {exc}", file=sys.stderr)
    return 1


def _cmd_promote(args: argparse.Namespace) -> int:
    from mlops_nb.exceptions import PromotionRefusedError, UsageError
    from mlops_nb.registry import promotion

    if args.force and not args.reason:
        raise UsageError("--force needs --reason TEXT: the override and its reason are recorded.")
    try:
        move = promotion.promote(
            args.model, args.version, to=args.to, env=args.env, reason=args.reason, force=args.force
        )
    except PromotionRefusedError as exc:
        return _refused(args, exc)
    return _done(args, move)


def _cmd_approve(args: argparse.Namespace) -> int:
    from mlops_nb.exceptions import PromotionRefusedError
    from mlops_nb.registry import promotion

    try:
        move = promotion.approve(args.model, args.version, env=args.env, reason=args.reason)
    except PromotionRefusedError as exc:
        return _refused(args, exc)
    return _done(args, move)


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlops_nb.registry import promotion

    return _done(args, promotion.rollback(args.model, env=args.env, reason=args.reason))


def _cmd_history(args: argparse.Namespace) -> int:
    from mlops_nb.registry import promotion

    moves = promotion.history(args.model)
    _print(args, [m.to_dict() for m in moves], _moves_table(moves))
    return 0


def _cmd_pending(args: argparse.Namespace) -> int:
    from mlops_nb.registry import promotion

    moves = promotion.pending(args.model)
    _print(args, [m.to_dict() for m in moves], _moves_table(moves))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from mlops_nb.registry import audit

    path = audit.write_report(args.model, args.version, args.output)
    print(f"wrote {path} (also attached to version {args.version} of {args.model})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the registry's sub-commands to the ``mlops-nb`` parser."""
    p = sub.add_parser("promote", help="give a model version an alias (champion) once its gates pass")
    p.add_argument("model", help="registered model name")
    p.add_argument("--version", required=True, help="the version to promote")
    p.add_argument("--to", default="champion", help="the alias (default: champion)")
    p.add_argument("--env", help="environment of the pipeline file: the alias becomes <to>-<env>")
    p.add_argument("--force", action="store_true", help="override failing gates (needs --reason)")
    p.add_argument("--reason", help="why (recorded; required with --force)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser("rollback", help="give the champion back to the version that held it before")
    p.add_argument("model", help="registered model name")
    p.add_argument("--env", help="environment (champion-<env>)")
    p.add_argument("--reason", help="why (recorded)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_rollback)

    p = sub.add_parser("history", help="every promotion, request, approval, refusal and rollback of a model")
    p.add_argument("model", help="registered model name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_history)

    p = sub.add_parser("approve", help="approve a pending promotion (someone other than who asked)")
    p.add_argument("model", help="registered model name")
    p.add_argument("--version", required=True, help="the version waiting for approval")
    p.add_argument("--env", help="its environment")
    p.add_argument("--reason", help="why (recorded)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_approve)

    p = sub.add_parser("pending", help="promotions waiting for approval")
    p.add_argument("model", nargs="?", help="registered model name (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_pending)

    p = sub.add_parser("audit", help="write a model version's audit report (HTML), also attached to it")
    p.add_argument("model", help="registered model name")
    p.add_argument("--version", required=True, help="the version")
    p.add_argument("-o", "--output", help="report file (default: <model>-v<version>-audit.html)")
    p.set_defaults(func=_cmd_audit)
