"""Online serving speed: `mlops-nb serve` against `mlflow models serve` on the same model (issue 10, "Speed").

Registers a LogisticRegression on scikit-learn's breast-cancer data (30 numeric inputs, signature, input
example, training statistics) in a fresh project, then for each server in turn: starts it as a process with
the same worker count, measures the time from start to a 200 on /ping, and drives it from the same loopback
asyncio client (kept-alive HTTP/1.1 connections, one-row `dataframe_split` requests) at 1 and 8 connections.
Our server runs with its inference log ON (and once more with it off, to show the log's cost). Prints
requests/s, p50 and p99 side by side and the ratios. Goals: ≥ 2× throughput and a lower p99 at 8
connections; p50 ≤ 2 ms at 1 connection.

Usage: python benchmarks/bench_serve.py [--dir /tmp/mlops-nb-bench-serve] [--requests 3000] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench-serve"


def build(root: Path) -> tuple[str, list[list[float]], list[str]]:
    """A fresh project with the model registered @champion; (tracking URI, one row, columns)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n', encoding="utf-8")
    os.environ["MLOPS_NB_PROJECT"] = str(root)
    os.chdir(root)
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from mlops_nb import records, store
    from mlops_nb.capture.profile import profile

    uri = store.ensure_store().tracking_uri
    mlflow.set_tracking_uri(uri)
    frame = load_breast_cancer(as_frame=True).frame
    features = frame.drop(columns="target")
    estimator = LogisticRegression(max_iter=5000).fit(features, frame["target"])
    with mlflow.start_run(experiment_id=store.experiment_id("bench")) as run:
        split = profile(features, name="train", context="training")
        store.client().log_dict(run.info.run_id, split, records.split_artifact("train"))
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict(features)),
            input_example=features.head(3),
            pip_requirements=["scikit-learn"],
        )
    version = mlflow.register_model(info.model_uri, MODEL).version
    store.client().set_registered_model_alias(MODEL, "champion", version)
    return uri, features.head(1).to_numpy().tolist(), list(features.columns)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """Start a server; (process, seconds until /ping answered 200)."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:3]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return process, time.perf_counter() - began
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{command[:3]} was not ready after 180 s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _connection(port: int, request: bytes, count: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"non-200 answer: {head[:80]!r} {body[:200]!r}")
    finally:
        writer.close()


async def _drive(port: int, request: bytes, connections: int, total: int) -> tuple[float, list[float]]:
    per = total // connections
    warm: list[float] = []
    await asyncio.gather(*(_connection(port, request, 50, warm) for _ in range(connections)))
    latencies: list[float] = []
    began = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, per, latencies) for _ in range(connections)))
    return time.perf_counter() - began, latencies


def measure(port: int, request: bytes, connections: int, total: int) -> dict[str, float]:
    elapsed, latencies = asyncio.run(_drive(port, request, connections, total))
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/mlops-nb-bench-serve")
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per cell (median kept)")
    args = parser.parse_args()
    root = Path(args.dir)
    uri, row, columns = build(root)
    body = json.dumps({"dataframe_split": {"columns": columns, "data": row}}).encode()
    head = f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    request = head.encode() + body
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLOPS_NB_PROJECT": str(root),
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    workers = str(args.workers)
    servers = {
        "mlops-nb serve (log on)": [sys.executable, "-m", "mlops_nb.cli", "serve", MODEL, "--workers", workers],
        "mlops-nb serve (log off)": [sys.executable, "-m", "mlops_nb.cli", "serve", MODEL, "--workers", workers, "--no-log"],
        "mlflow models serve": [
            str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}@champion",
            "--env-manager", "local", "-w", workers,
        ],
    }  # fmt: skip
    results: dict[str, dict[str, object]] = {}
    running: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, command in servers.items():  # started one after the other: time to ready alone
            port = free_port()
            process, ready = start([*command, "--port", str(port)], port, env)
            running[name] = (process, port)
            results[name] = {"ready_s": ready}
        # Rounds alternate between the servers (idle ones cost nothing), so that load from elsewhere on the
        # machine hits all of them alike; each cell keeps its median round.
        rounds: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for name, (_, port) in running.items():
                for connections in (1, 8):
                    found = measure(port, request, connections, args.requests // args.rounds)
                    rounds.setdefault((name, connections), []).append(found)
        for (name, connections), found in rounds.items():
            results[name][connections] = {
                **{
                    key: statistics.median(cell[key] for cell in found) for key in ("rps", "p50_ms", "p99_ms")
                },
                "best_rps": max(
                    cell["rps"] for cell in found
                ),  # the round least disturbed by other processes
            }
    finally:
        for process, _ in running.values():
            stop(process)
    print(
        f"\nOne-row requests to a LogisticRegression (30 inputs), {args.requests} per cell, {workers} worker(s)"
    )
    print(
        f"{'server':<26}{'ready s':>8}"
        + "".join(f"{f'c={c} req/s':>12}{'p50 ms':>8}{'p99 ms':>8}" for c in (1, 8))
    )
    for name, found in results.items():
        cells = "".join(
            f"{found[c]['rps']:>12.0f}{found[c]['p50_ms']:>8.2f}{found[c]['p99_ms']:>8.2f}" for c in (1, 8)
        )
        print(f"{name:<26}{found['ready_s']:>8.1f}{cells}")
    ours, theirs, off = (
        results["mlops-nb serve (log on)"],
        results["mlflow models serve"],
        results["mlops-nb serve (log off)"],
    )
    print()
    for c in (1, 8):
        print(
            f"c={c}: throughput {ours[c]['rps'] / theirs[c]['rps']:.2f}x mlflow (goal >= 2 at c=8), "
            f"p99 {ours[c]['p99_ms']:.2f} vs {theirs[c]['p99_ms']:.2f} ms, "
            f"log cost {1 - ours[c]['rps'] / off[c]['rps']:+.1%} of throughput (goal <= 10%; best rounds: "
            f"{1 - ours[c]['best_rps'] / off[c]['best_rps']:+.1%})"
        )
    print(f"p50 at 1 connection: {ours[1]['p50_ms']:.2f} ms (goal <= 2 ms); "
          f"time to ready {ours['ready_s']:.1f} s vs {theirs['ready_s']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
