"""``mlops-nb serve`` (the online server) and ``mlops-nb ab-report``."""

from __future__ import annotations

import argparse
import json


def _cmd_serve(args: argparse.Namespace) -> int:
    from mlops_nb.serving import options, server

    flags = {
        "alias": args.alias,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "canary": args.canary,
        "shadow": args.shadow,
        "ab": args.ab,
        "bandit": args.bandit,
        "log_dir": args.log_dir,
        "max_body_bytes": args.max_body_bytes,
        "poll_seconds": args.poll_seconds,
        "seed": args.seed,
        "no_log": args.no_log or None,
    }
    built = options.build(args.model, pipeline=args.pipeline, flags=flags)
    server.serve(built)  # says where it serves once the aliases resolve
    return 0


def _cmd_ab_report(args: argparse.Namespace) -> int:
    from mlops_nb.serving import abtest

    found = abtest.report(
        args.model, log_dir=args.log_dir, feedback_dir=args.feedback_dir, confidence=args.confidence
    )
    print(json.dumps(found, indent=2) if args.json else abtest.render(found))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `serve` and `ab-report` to the `mlops-nb` parser."""
    p = sub.add_parser(
        "serve",
        help="serve a registered model over HTTP (MLflow's scoring protocol), following its alias",
        usage="mlops-nb serve MODEL [--alias champion] [--host 127.0.0.1] [--port P] [--workers N] [options]",
    )
    p.add_argument("model", nargs="?", help="registered model name (default: the pipeline file's model)")
    p.add_argument("--alias", help="alias to serve and follow (default champion)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 5000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--pipeline", help="pipeline file whose `serving:` section gives defaults for these flags")
    p.add_argument(
        "--canary", metavar="ALIAS:PCT", help="send PCT%% of requests (sticky per request id) to ALIAS"
    )
    p.add_argument(
        "--shadow", metavar="ALIAS", help="score a copy of every request on ALIAS; log, never answer"
    )
    p.add_argument("--ab", metavar="ALIAS:PCT", help="A/B test: PCT%% to ALIAS; rewards via POST /feedback")
    p.add_argument(
        "--bandit", metavar="ALIAS,ALIAS", help="Thompson sampling over these aliases, fed by rewards"
    )
    p.add_argument("--log-dir", help="inference log folder (default .mlops/inference/<model>)")
    p.add_argument("--no-log", action="store_true", help="do not write the inference log")
    p.add_argument("--max-body-bytes", type=int, help="largest request body (default 10 MiB; larger: 413)")
    p.add_argument(
        "--poll-seconds", type=float, help="how often to check the registry for alias moves (default 3)"
    )
    p.add_argument("--seed", type=int, help="seed of the bandit's sampling (reproducible tests)")
    p.set_defaults(func=_cmd_serve)

    r = sub.add_parser("ab-report", help="per-arm rewards of an A/B test or bandit, with significance")
    r.add_argument("model", help="registered model name")
    r.add_argument("--log-dir", help="inference log folder (default .mlops/inference/<model>)")
    r.add_argument("--feedback-dir", help="feedback folder (default .mlops/feedback/<model>)")
    r.add_argument("--confidence", type=float, default=0.95, help="confidence level (default 0.95)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=_cmd_ab_report)
