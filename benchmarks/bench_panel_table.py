"""Speed of the panel's runs table (issue 8, item 6) in process, and the store the browser benchmark uses.

Builds (once, then reuses) beside benchmarks/bench_api.py's experiment "bench" (10,000 runs × 10 params × 10
metrics × 100 steps) an experiment "bench-tree": the same 10,000 runs' shape grouped into 2,500 pipeline runs of
three steps each (parent tags as mlops_nb writes them; the metrics table holds only each run's last step, which
is all a listing reads). Then prints, against ``mlflow.search_runs`` over the same 10,000 runs (what a notebook
user runs to get a table):

- the first page, the last page (offset 9,900) and a metric-sorted page of the flat list;
- the first and the last page of the tree (top-level runs only) and one pipeline's children.

The browser figures (first rows, a jump to the last row, the tree against the flat list, compare of 100 runs)
come from tests/ui/test_large_experiment.py, which calls build_tree().

Usage: python benchmarks/bench_panel_table.py [--dir /tmp/mlops-nb-table-bench]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path

N_PIPELINES = 2_500
STEPS = ("ingestion", "training", "evaluation")
TREE_EXPERIMENT = "bench-tree"


def _bench_api():
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("bench_api.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tree(root: Path, n_runs: int = 10_000) -> tuple[str, str, str]:
    """The flat experiment (bench_api.build) and the tree experiment; returns (URI, flat id, tree id)."""
    from mlops_nb import config, records, store

    bench_api = _bench_api()
    uri, flat_id = bench_api.build(root, n_runs)
    marker = root / f"tree-{n_runs}.json"
    if marker.exists():
        return uri, flat_id, json.loads(marker.read_text())["experiment_id"]
    started = time.perf_counter()
    settings = config.load(root)
    tree_id = store.experiment_id(TREE_EXPERIMENT, settings)
    db = Path(settings.tracking_uri[len("sqlite:///") :])
    conn = sqlite3.connect(db)
    conn.executescript("PRAGMA synchronous=OFF;")
    now = int(time.time() * 1000) - n_runs * 1000
    group = 1 + len(STEPS)
    runs, tags = [], []
    for i in range(n_runs):
        run_id = uuid.uuid4().hex
        pipeline, step = divmod(i, group)
        parent = runs[pipeline * group][0] if step else None
        name = f"pipeline-{pipeline}" if not step else STEPS[step - 1]
        runs.append((run_id, name, now + i * 1000))
        tags += [
            (records.RUN_NAME, name, run_id),
            (records.TAG_MODE, records.MODE_PIPELINE, run_id),
            (
                records.TAG_PIPELINE_KIND,
                records.PIPELINE_KIND_STEP if step else records.PIPELINE_KIND_PIPELINE,
                run_id,
            ),
        ]
        if parent:
            tags += [(records.PARENT_RUN_ID, parent, run_id), (records.TAG_PIPELINE_RUN, parent, run_id)]
            tags.append((records.TAG_PIPELINE_STEP, STEPS[step - 1], run_id))
    artifacts = Path(settings.artifact_root) / "bench-tree"
    conn.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status,"
        " start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id)"
        " VALUES (?, ?, 'LOCAL', 'pipeline.yaml', '', 'bench', 'FINISHED', ?, ?, '', 'active', ?, ?)",
        [
            (run_id, name, start, start + 900, (artifacts / run_id).as_uri(), int(tree_id))
            for run_id, name, start in runs
        ],
    )
    conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    conn.executemany(
        "INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
        ((f"param_{p}", str((i * (p + 1)) % 17), run[0]) for i, run in enumerate(runs) for p in range(10)),
    )
    points = [
        (f"metric_{m}", ((i * 7919 + m * 104729) % 100000) / 100000.0, run[2] + 99, run[0], 99, 0)
        for i, run in enumerate(runs)
        for m in range(10)
    ]
    conn.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", points
    )
    conn.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
        points,
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    marker.write_text(json.dumps({"experiment_id": tree_id}))
    print(f"built the {n_runs}-run tree experiment in {time.perf_counter() - started:.1f} s")
    return uri, flat_id, tree_id


def timed(action: Callable[[], object], repeat: int = 5) -> float:
    """Median seconds of `repeat` calls after one warm-up call."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def search_runs_seconds(uri: str, experiment_id: str) -> float:
    """One cold-ish ``mlflow.search_runs`` of every run of the experiment (a DataFrame, as users call it)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    started = time.perf_counter()
    frame = mlflow.search_runs(experiment_ids=[experiment_id], max_results=100_000)
    seconds = time.perf_counter() - started
    assert len(frame) >= 10_000, len(frame)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlops-nb-table-bench"))
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    root = args.dir.resolve()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["MLOPS_NB_PROJECT"] = str(root)

    from mlops_nb import config, explore

    uri, flat_id, tree_id = build_tree(root, args.runs)
    settings = config.load(root)
    baseline = search_runs_seconds(uri, flat_id)

    def page(experiment_id: str, **query: object) -> Callable[[], object]:
        return lambda: explore.runs_table(experiment_id, settings=settings, **query)

    last = args.runs - 100
    a_pipeline = explore.runs_table(tree_id, top_level=True, max_results=1, settings=settings)["runs"][0][
        "run_id"
    ]
    rows = [
        ("flat: first page (100 rows)", timed(page(flat_id))),
        (f"flat: last page (offset {last})", timed(page(flat_id, offset=last))),
        ("flat: sorted by a metric", timed(page(flat_id, order_by="metrics.metric_3 DESC"))),
        ("tree: first page of top-level runs", timed(page(tree_id, top_level=True))),
        ("tree: last page of top-level runs", timed(page(tree_id, top_level=True, offset=N_PIPELINES - 100))),
        ("tree: one pipeline's steps", timed(page(tree_id, parent=a_pipeline))),
    ]
    print(f"mlflow.search_runs of {args.runs:,} runs (the baseline): {baseline:.3f} s")
    print(f"{'explore.runs_table':<44}{'seconds':>9}   speed-up vs search_runs (goal >= 10)")
    for label, seconds in rows:
        print(f"  {label:<42}{seconds:>9.4f}   {baseline / seconds:.0f}x")


if __name__ == "__main__":
    main()
