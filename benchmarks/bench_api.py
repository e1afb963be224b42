"""Speed of the explore API against plain MlflowClient on a 10,000-run experiment (issue 3, "Speed").

Builds (once, then reuses) an embedded store: one experiment of N runs × 10 params × 10 metrics × 100 steps,
bulk-written with SQL into a store whose schema MLflow created. Then prints:

1. runs page: the first 100 rows with warning flags — ``explore.list_runs`` in process and
   ``GET /mlops-nb/api/experiments/{id}/runs`` on a real jupyter server — against
   ``MlflowClient().search_runs(max_results=100)``; goal ≤ 1.5×.
2. compare 1,000 runs with all metric histories — ``explore.compare`` and ``POST /mlops-nb/api/compare`` —
   against search_runs + ``get_metric_history`` per run and metric (how other tools do it); goal ≥ 10× faster.

Usage: python benchmarks/bench_api.py [--dir /tmp/mlops-nb-bench] [--runs 10000] [--compare 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

N_PARAMS = 10
N_METRICS = 10
N_STEPS = 100


def build(root: Path, n_runs: int) -> tuple[str, str]:
    """Create (or reuse) the benchmark project; returns (tracking URI, experiment id)."""
    from mlops_nb import config, records, store

    marker = root / f"built-{n_runs}.json"
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlops.toml").write_text('experiment = "bench"\n', encoding="utf-8")
    settings = config.load(root)
    if marker.exists():
        return settings.tracking_uri, json.loads(marker.read_text())["experiment_id"]
    db = Path(settings.tracking_uri[len("sqlite:///") :])
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    store._ready.discard(settings.tracking_uri)
    experiment_id = store.experiment_id("bench", settings)
    conn = sqlite3.connect(db)
    conn.executescript("PRAGMA synchronous=OFF; PRAGMA cache_size=-400000;")
    now = int(time.time() * 1000) - n_runs * 1000
    artifact_root = Path(settings.artifact_root) / "bench"
    runs = []
    for i in range(n_runs):
        run_id = uuid.uuid4().hex
        runs.append(
            (
                run_id,
                f"run-{i}",
                "LOCAL",
                "bench.ipynb",
                "",
                "bench",
                "FINISHED",
                now + i * 1000,
                now + i * 1000 + 900,
                "",
                "active",
                (artifact_root / run_id / "artifacts").as_uri(),
                int(experiment_id),
            )
        )
    conn.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
        " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        runs,
    )
    tags = []
    for i, run in enumerate(runs):
        run_id = run[0]
        tags += [
            (records.RUN_NAME, run[1], run_id),
            (records.TAG_MODE, records.MODE_PIPELINE if i % 3 == 0 else records.MODE_INTERACTIVE, run_id),
            (records.SOURCE_GIT_COMMIT, "0" * 40, run_id),
            (records.TAG_GIT_DIRTY, "true" if i % 10 == 0 else "false", run_id),
            (
                records.TAG_EXECUTION_ORDER,
                records.EXECUTION_OUT_OF_ORDER if i % 7 == 0 else "in_order",
                run_id,
            ),
        ]
        if i % 50 == 0:
            tags.append((records.TAG_WARNING_SPLIT_LEAKAGE, "2 rows of test are in train", run_id))
    conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    conn.executemany(
        "INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
        (
            (f"param_{p}", str((i * (p + 1)) % 17), run[0])
            for i, run in enumerate(runs)
            for p in range(N_PARAMS)
        ),
    )
    conn.executescript(
        f"""
        CREATE TEMP TABLE keys (key TEXT);
        INSERT INTO keys VALUES {",".join(f"('metric_{m}')" for m in range(N_METRICS))};
        CREATE TEMP TABLE steps (step INTEGER);
        WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {N_STEPS - 1})
        INSERT INTO steps SELECT n FROM s;
        INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)
            SELECT k.key, (abs(random()) % 100000) / 100000.0, r.start_time + s.step, r.run_uuid, s.step, 0
            FROM runs r, keys k, steps s WHERE r.experiment_id = {int(experiment_id)}
            ORDER BY r.run_uuid, k.key, s.step;
        INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)
            SELECT key, value, timestamp, step, is_nan, run_uuid FROM metrics WHERE step = {N_STEPS - 1};
        """
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the bulk write into the database file
    conn.close()
    marker.write_text(json.dumps({"experiment_id": experiment_id}))
    print(f"built {n_runs} runs in {time.perf_counter() - started:.1f} s ({db.stat().st_size / 1e9:.2f} GB)")
    return settings.tracking_uri, experiment_id


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls after one warm-up call."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `jupyter server` with the extension, on 127.0.0.1, stopped by its pid."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        env = {**os.environ, "MLOPS_NB_PROJECT": str(root)}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions=mlops_nb=True",
                "--allow-root",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                self.get("settings")
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("jupyter server did not start")

    def request(self, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/mlops-nb/api/{path}",
            data=data,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=300) as response:
            return json.loads(response.read())

    def get(self, path: str) -> object:
        return self.request(path)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlops-nb-bench"))
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--compare", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument(
        "--sample", type=int, default=500, help="get_metric_history calls timed for the baseline"
    )
    parser.add_argument("--full-baseline", action="store_true", help="time every get_metric_history call")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped early: still stop the jupyter server
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLOPS_NB_PROJECT"] = str(args.dir.resolve())
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

    from mlflow import MlflowClient

    from mlops_nb import config, explore

    uri, experiment_id = build(args.dir.resolve(), args.runs)
    settings = config.load(args.dir.resolve())
    client = MlflowClient(uri)
    print(
        f"store: {uri}, experiment {experiment_id}, {args.runs} runs × {N_PARAMS} params × "
        f"{N_METRICS} metrics × {N_STEPS} steps"
    )

    baseline = timed(lambda: client.search_runs([experiment_id], max_results=100), args.repeat)
    ours = timed(lambda: explore.list_runs(experiment_id, max_results=100, settings=settings), args.repeat)
    server = Server(args.dir.resolve())
    try:
        endpoint = timed(lambda: server.get(f"experiments/{experiment_id}/runs?max_results=100"), args.repeat)
        page = server.get(f"experiments/{experiment_id}/runs?max_results=100")
        assert len(page["runs"]) == 100
        assert page["total_count"] == args.runs

        ids = [run.info.run_id for run in client.search_runs([experiment_id], max_results=args.compare)]

        # The MlflowClient way: search the runs, then one get_metric_history call per run and metric.
        # 10,000 calls take many minutes on a loaded machine, so by default a random sample of them is timed
        # and the total extrapolated (--full-baseline times every call).
        started = time.perf_counter()
        runs = client.search_runs([experiment_id], max_results=args.compare)
        search_seconds = time.perf_counter() - started
        calls = [(run.info.run_id, key) for run in runs for key in run.data.metrics]
        sample = calls if args.full_baseline else random.Random(0).sample(calls, min(args.sample, len(calls)))
        started = time.perf_counter()
        for run_id, key in sample:
            client.get_metric_history(run_id, key)
        per_call = (time.perf_counter() - started) / len(sample)
        compare_baseline = search_seconds + per_call * len(calls)
        baseline_note = (
            "timed" if len(sample) == len(calls) else f"extrapolated from {len(sample)} timed calls"
        )
        compare_core = timed(lambda: explore.compare(ids, settings=settings), max(1, args.repeat // 2))
        compare_endpoint = timed(
            lambda: server.request("compare", {"run_ids": ids}), max(1, args.repeat // 2)
        )
        compared = server.request("compare", {"run_ids": ids})
        assert len(compared["metrics"]) == N_METRICS
        assert len(compared["metrics"][0]["steps"]) == N_STEPS
    finally:
        server.stop()

    rows = [
        ("\n1. runs page (100 rows with warnings)", "seconds", "ratio to search_runs (goal <= 1.5)"),
        ("   MlflowClient.search_runs(max_results=100)", f"{baseline:.4f}", "1.00"),
        ("   explore.list_runs", f"{ours:.4f}", f"{ours / baseline:.2f}"),
        ("   GET .../experiments/{id}/runs (HTTP)", f"{endpoint:.4f}", f"{endpoint / baseline:.2f}"),
        (f"\n2. compare {len(ids)} runs with histories", "seconds", "speed-up vs MlflowClient (goal >= 10)"),
        (
            f"   search_runs + {len(calls)} get_metric_history",
            f"{compare_baseline:.3f}",
            f"1.0 ({baseline_note})",
        ),
        ("   explore.compare", f"{compare_core:.3f}", f"{compare_baseline / compare_core:.1f}"),
        (
            "   POST /mlops-nb/api/compare (HTTP)",
            f"{compare_endpoint:.3f}",
            f"{compare_baseline / compare_endpoint:.1f}",
        ),
    ]
    for label, seconds, ratio in rows:
        print(f"{label:<48}{seconds:>9}   {ratio}")


if __name__ == "__main__":
    main()
