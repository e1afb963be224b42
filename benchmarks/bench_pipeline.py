"""Pipeline speed: the two ratios of issue 4, measured as wall time of real command-line processes.

1. An 8-point `mlops-nb sweep` with 2 workers vs the same 8 runs as sequential `papermill` CLI calls of
   the notebook (goal: sweep >= 2.5x faster).
2. One `mlops-nb run` (ingestion, gates, training, evaluation, registration) vs one bare `papermill`
   run of the same notebook (goal: overhead <= 1.3x).

Each measurement runs in a fresh throw-away project (its own SQLite store). Prints figures and
ratios; asserts nothing. The machine's other load shows in the figures: compare ratios of one
invocation (`--repeat N` alternates them N times and keeps the best of each).
Run: `PYTHONPATH=. .venv/bin/python benchmarks/bench_pipeline.py [--points 8] [--workers 2] [--repeat 2]`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipelines" / "train_classifier.yaml"
GRID = {"alpha": ["0.0001", "0.0005", "0.001", "0.005"], "epochs": ["5", "10"]}


def _project() -> tuple[Path, dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    (root / "mlops.toml").write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}}
    env.update(MLOPS_NB_PROJECT=str(root), PYTHONPATH=str(ROOT), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    return root, env


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds


def _papermill(notebook: Path, data: Path, params: dict[str, str], root: Path, env: dict[str, str]) -> float:
    out = root / f"out-{time.monotonic_ns()}.ipynb"
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(notebook),
        str(out),
        "-k",
        "python3",
        "--no-progress-bar",
        "-p",
        "data_path",
        str(data),
    ]
    for name, value in params.items():
        cmd += ["-p", name, value]
    return _timed(cmd, env, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate the measurements N times, keep the best"
    )
    args = parser.parse_args()

    from mlops_nb.pipelines import spec as spec_mod

    spec = spec_mod.load(PIPELINE)
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())][
        : args.points
    ]
    grid = {name: sorted({p[name] for p in points}, key=float) for name in GRID}
    print(
        f"notebook {spec.notebook.relative_to(ROOT)}, data {Path(spec.data.source).relative_to(ROOT)}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )

    sequential = swept = bare = full = float("inf")
    for _ in range(args.repeat):  # alternating, so that other load on the machine hits both sides
        if not args.skip_sweep:
            root, env = _project()
            seconds = sum(_papermill(spec.notebook, Path(spec.data.source), p, root, env) for p in points)
            sequential = min(sequential, seconds)
            root, env = _project()
            cmd = [
                sys.executable,
                "-m",
                "mlops_nb.cli",
                "sweep",
                str(PIPELINE),
                "--workers",
                str(args.workers),
                "--no-progress",
                "--grid",
                *(f"{k}={','.join(v)}" for k, v in grid.items()),
            ]
            swept = min(swept, _timed(cmd, env, root))
        if not args.skip_run:
            root, env = _project()
            bare = min(bare, _papermill(spec.notebook, Path(spec.data.source), {}, root, env))
            root, env = _project()
            cmd = [sys.executable, "-m", "mlops_nb.cli", "run", str(PIPELINE), "--no-progress"]
            full = min(full, _timed(cmd, env, root))
    if not args.skip_sweep:
        print(f"1. {len(points)} sequential papermill CLI runs: {sequential:7.1f} s")
        print(f"   mlops-nb sweep, {len(points)} points, {args.workers} workers: {swept:7.1f} s")
        print(f"   speed-up: {sequential / swept:.2f}x (goal >= 2.5x)")
    if not args.skip_run:
        print(f"2. bare papermill run: {bare:7.1f} s")
        print(f"   mlops-nb run (all steps, gates, registration): {full:7.1f} s")
        print(f"   overhead: {full / bare:.2f}x (goal <= 1.3x)")
    print(f"   (best of {args.repeat}; load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
