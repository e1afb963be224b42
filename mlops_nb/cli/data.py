"""``mlops-nb data add|list|show|diff|prune``: named, versioned datasets."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _print(args: argparse.Namespace, payload: object, text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def _line(dv: Any) -> str:
    kept = f"dvc {dv.dvc['path']}@{dv.dvc['rev'][:8]}" if dv.dvc else f"snapshot {dv.digest[:12]}"
    return f"{dv.ref:<24} {dv.rows:>10} rows  {len(dv.columns):>3} cols  {dv.created}  {dv.author:<10} {kept}"


def _cmd_add(args: argparse.Namespace) -> int:
    from mlops_nb import datasets

    key = [k.strip() for k in args.key.split(",") if k.strip()] if args.key else None
    dv = datasets.add(args.name, args.source, key=key, description=args.description)
    _print(args, dv.to_dict(), f"added {_line(dv)}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from mlops_nb import datasets

    found = datasets.versions()
    text = (
        "\n".join(_line(dv) for dv in found) or "no datasets yet: add one with `mlops-nb data add NAME FILE`"
    )
    _print(args, [dv.to_dict() for dv in found], text)
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from mlops_nb import datasets
    from mlops_nb.datasets import repository

    dv = datasets.get(*repository.parse_ref(args.ref))
    profile = repository.profile(dv)
    lines = [
        _line(dv),
        f"source: {dv.source}",
        f"key: {', '.join(dv.key) or '(none)'}",
        f"description: {dv.description or ''}",
        "columns:",
    ]
    for column in profile["schema"]:
        stats = profile["columns"].get(column["name"], {})
        shown = {k: v for k, v in stats.items() if not isinstance(v, (dict, list))}
        lines.append(f"  {column['name']:<20} {column['dtype']:<10} {column['kind']:<12} {shown}")
    _print(args, {**dv.to_dict(), "profile": profile}, "\n".join(lines))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from mlops_nb import datasets
    from mlops_nb.datasets import diff, repository

    old, new = (datasets.get(*repository.parse_ref(ref)) for ref in (args.old, args.new))
    found = diff.between(old, new)
    table = found.pop("drift_table")
    columns = found["columns"]
    changed = "?" if found["changed"] is None else found["changed"]
    by = f"by key {', '.join(found['key'])}" if found["key"] else "by whole rows"
    text = [
        f"{found['old']} -> {found['new']} ({by}): {found['rows']['old']} -> {found['rows']['new']} rows",
        f"rows: +{found['added']} added, -{found['removed']} removed, ~{changed} changed",
        f"columns: added {columns['added']}, removed {columns['removed']}, retyped {columns['retyped']}",
        "drift (data gate statistics, new against old):",
        table,
    ]
    _print(args, found, "\n".join(text))
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    from mlops_nb.datasets import prune

    report = prune.prune(dry_run=args.dry_run)
    _print(args, report.to_dict(), report.render())
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The ``data`` command and its sub-commands."""
    data = sub.add_parser("data", help="named, versioned datasets: add, list, show, diff, prune")
    actions = data.add_subparsers(dest="data_command", required=True)

    p = actions.add_parser("add", help="register a new version of a dataset from a CSV/Parquet file or glob")
    p.add_argument("name", help="dataset name")
    p.add_argument("source", help="CSV or Parquet file, or a glob of them")
    p.add_argument("--key", metavar="COLUMNS", help="comma-separated columns that identify a row")
    p.add_argument("--description", metavar="TEXT", help="what this version is")
    p.set_defaults(func=_cmd_add)

    p = actions.add_parser("list", help="every version of every dataset")
    p.set_defaults(func=_cmd_list)

    p = actions.add_parser("show", help="one version: source, schema, statistics")
    p.add_argument("ref", metavar="NAME[@VERSION]", help="dataset (default: its latest version)")
    p.set_defaults(func=_cmd_show)

    p = actions.add_parser("diff", help="rows added/removed/changed, schema changes and drift")
    p.add_argument("old", metavar="NAME@A", help="the older version")
    p.add_argument("new", metavar="NAME@B", help="the newer version (NAME alone: the latest)")
    p.set_defaults(func=_cmd_diff)

    p = actions.add_parser("prune", help="delete snapshots no dataset or model version needs")
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.set_defaults(func=_cmd_prune)
    for parser in actions.choices.values():
        parser.add_argument("--json", action="store_true", help="machine-readable output")
