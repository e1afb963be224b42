"""Benchmark 1 of issue 2: `mlops_nb.log_metrics` vs synchronous `mlflow.log_metric` (and `log_batch`).

Same process, same fresh SQLite store. Prints the caller's cost per point, the time until all points are
stored, and the stored count. Synchronous logging is timed on a sample and extrapolated (labelled so).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

N = 20_000
SYNC_SAMPLE = 1_000


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    (root / "pyproject.toml").write_text("[project]\nname='b'\n", encoding="utf-8")
    os.environ["MLOPS_NB_PROJECT"] = str(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    import mlflow
    from mlflow.entities import Metric

    import mlops_nb
    from mlops_nb import store

    client = store.client()
    exp = store.experiment_id("bench")

    # baseline: synchronous mlflow.log_metric, one point per call
    mlflow.set_tracking_uri(store.config.current().tracking_uri)
    with mlflow.start_run(experiment_id=exp):
        start = time.perf_counter()
        for i in range(SYNC_SAMPLE):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        sync_per_point = (time.perf_counter() - start) / SYNC_SAMPLE
    sync_total = sync_per_point * N

    # baseline: MLflow's own log_batch of the same points
    batch_run = client.create_run(exp)
    points = [Metric("loss", 1.0 / (i + 1), int(time.time() * 1000), i) for i in range(N)]
    start = time.perf_counter()
    for k in range(0, N, 1000):
        client.log_batch(batch_run.info.run_id, metrics=points[k : k + 1000])
    batch_total = time.perf_counter() - start

    # ours
    tracked = mlops_nb.track(experiment="bench", autolog=False)
    start = time.perf_counter()
    for i in range(N):
        mlops_nb.log_metrics({"loss": 1.0 / (i + 1)}, step=i)
    caller = time.perf_counter() - start
    tracked.writer.flush(timeout=None)
    ours_total = time.perf_counter() - start
    stored = len(client.get_metric_history(tracked.run_id, "loss"))
    mlops_nb.stop()

    print(f"points: {N:,}   store: {store.config.current().tracking_uri}")
    print(
        f"mlflow.log_metric (sync)   {sync_per_point * 1e6:10.1f} µs/point  total ≈ {sync_total:7.2f} s "
        f"(extrapolated from {SYNC_SAMPLE:,} points)"
    )
    print(f"MlflowClient.log_batch     {batch_total / N * 1e6:10.1f} µs/point  total   {batch_total:7.2f} s")
    print(
        f"mlops_nb.log_metrics       {caller / N * 1e6:10.1f} µs/point on the caller's thread; "
        f"all stored after {ours_total:.2f} s"
    )
    print(f"caller cost ratio   sync / ours = {sync_per_point / (caller / N):8.0f}x   (goal >= 500x)")
    print(f"time-to-stored      sync / ours = {sync_total / ours_total:8.1f}x   (goal >= 40x)")
    print(f"vs log_batch        batch / ours = {batch_total / ours_total:8.2f}x  (goal >= 1.0x)")
    print(f"stored points: {stored:,} (must be {N:,})")


if __name__ == "__main__":
    main()
