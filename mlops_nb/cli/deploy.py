"""``mlops-nb deploy-check | score | stream | export``: check, batch-score, stream-score and export a model
version named MODEL@ALIAS."""

from __future__ import annotations

import argparse
import json


def _cmd_deploy_check(args: argparse.Namespace) -> int:
    from mlops_nb.serving import deploy_check

    report = deploy_check.deploy_check(
        args.model, pipeline=args.pipeline, calls=args.calls, record=not args.no_record
    )
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else deploy_check.render(report))
    return 0 if report.passed else 1


def _cmd_score(args: argparse.Namespace) -> int:
    from mlops_nb.cli import _stop_on_sigterm
    from mlops_nb.serving import batch

    _stop_on_sigterm()  # a stopped scoring removes its temporary output and marks its run failed

    result = batch.score(
        args.model,
        args.input,
        args.output,
        chunk_rows=args.chunk_rows,
        progress=not args.no_progress and not args.json,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else batch.render(result))
    return 0


def _cmd_stream(args: argparse.Namespace) -> int:
    from mlops_nb.serving import stream

    options = stream.StreamOptions(
        group=args.group,
        consumer=args.consumer,
        batch_size=args.batch_size,
        block_ms=args.block_ms,
        claim_idle_ms=args.claim_idle_ms,
        poll_seconds=args.poll,
        log_dir=args.log_dir,
    )
    stats = stream.run(args.model, args.source, args.sink, options)
    print(stream.render(stats))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mlops_nb.serving import onnx_export

    result = onnx_export.export(
        args.model, args.output, rtol=args.rtol, atol=args.atol, test_data=args.test_data
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else onnx_export.render(result))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `deploy-check`, `score`, `stream` and `export` to the `mlops-nb` parser."""
    p = sub.add_parser("deploy-check", help="check a model version for deployment; recorded on the version")
    p.add_argument("model", metavar="MODEL@ALIAS")
    p.add_argument("--pipeline", help="pipeline file with serving.latency_budget_ms (default: the version's)")
    p.add_argument("--calls", type=int, default=200, help="one-row calls timed (default 200)")
    p.add_argument("--no-record", action="store_true", help="do not record the result on the version")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=_cmd_deploy_check)

    p = sub.add_parser("score", help="batch-score a CSV or Parquet file, in chunks; recorded as a run")
    p.add_argument("model", metavar="MODEL@ALIAS")
    p.add_argument("input", help="CSV or Parquet file")
    p.add_argument("-o", "--output", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="rows per chunk (default 50000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("stream", help="score a Redis stream into another, exactly once, following the alias")
    p.add_argument("model", metavar="MODEL@ALIAS")
    p.add_argument("--source", required=True, metavar="redis://HOST:PORT/STREAM")
    p.add_argument("--sink", required=True, metavar="redis://HOST:PORT/STREAM")
    p.add_argument("--group", default="mlops-nb", help="consumer group (default mlops-nb)")
    p.add_argument("--consumer", help="consumer name in the group (default: host name)")
    p.add_argument("--batch-size", type=int, default=100, help="events per micro-batch (default 100)")
    p.add_argument("--block-ms", type=int, default=1000, help="wait for new events (default 1000 ms)")
    p.add_argument(
        "--claim-idle-ms",
        type=int,
        default=30_000,
        help="take over events another consumer left pending this long (default 30000)",
    )
    p.add_argument("--poll", type=float, default=5.0, help="seconds between registry polls (default 5)")
    p.add_argument("--log-dir", help="inference log folder (default .mlops/inference/<model>)")
    p.set_defaults(func=_cmd_stream)

    p = sub.add_parser("export", help="export a model version to ONNX after a parity check")
    p.add_argument("model", metavar="MODEL@ALIAS")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance of probabilities (1e-4)")
    p.add_argument("--atol", type=float, default=1e-5, help="absolute tolerance of probabilities (1e-5)")
    p.add_argument(
        "--test-data", help="CSV/Parquet rows to check parity on (default: the version's test split)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_export)
