"""Batch scoring throughput: `mlops-nb score` against `mlflow models predict` on the same 1,000,000-row CSV,
same registered model, both as real command-line processes (start-up included), rows per second and ratio.

`mlflow models predict` runs with `--env-manager local` (no new virtualenv) and reads the whole file at once;
`mlops-nb score` reads it in chunks (bounded memory), writes CSV too, and records an MLflow run.
Run: `PYTHONPATH=. .venv/bin/python benchmarks/bench_batch.py [--rows 1000000]`. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_model import REF, project, rows


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    count = parser.parse_args().rows
    root, env = project()
    source = root / "input.csv"
    rows(count, seed=2).to_csv(source, index=False)
    bin_dir = Path(sys.executable).parent
    ours, out = _timed(
        [
            sys.executable,
            "-m",
            "mlops_nb.cli",
            "score",
            REF,
            str(source),
            "-o",
            str(root / "ours.csv"),
            "--json",
        ],
        env,
        root,
    )
    mlflow_cmd = [str(bin_dir / "mlflow"), "models", "predict", "-m", f"models:/{REF}", "-i", str(source)]
    mlflow_cmd += ["-t", "csv", "-o", str(root / "theirs.json"), "--env-manager", "local"]
    theirs, _ = _timed(mlflow_cmd, env, root)
    inside = json.loads(out)["seconds"]  # from the model's loading to the output's rename
    print(f"batch scoring of {count:,} rows (CSV in, CSV/JSON out, process start included)")
    print(f"  mlops-nb score          {ours:7.1f} s  {count / ours:12,.0f} rows/s")
    print(f"  mlflow models predict   {theirs:7.1f} s  {count / theirs:12,.0f} rows/s")
    print(f"  ratio (ours / mlflow rows per second): {theirs / ours:.2f}x")
    print(f"  mlops-nb score inside the command (model load + scoring + writing) {inside:.1f} s,")
    print(f"  {count / inside:,.0f} rows/s; the rest of its {ours:.1f} s is interpreter and CLI start-up")


if __name__ == "__main__":
    main()
