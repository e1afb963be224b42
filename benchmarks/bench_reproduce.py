"""Reproduction time against the original run's time: `mlops-nb reproduce` of a version vs the `mlops-nb run`
that registered it, as wall time of real command-line processes.

The example pipeline (pipelines/train_classifier.yaml and its notebook) is copied into a throw-away git
repository (its own SQLite store), committed, run once, then reproduced (from its ingested snapshot, the
default, and from its source). Prints figures and ratios; asserts nothing. The machine's other load shows in
the figures: `--repeat N` alternates them N times and keeps the best of each.
Run: `PYTHONPATH=. .venv/bin/python benchmarks/bench_reproduce.py [--repeat 1]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "breast-cancer-classifier"


def _project() -> tuple[Path, dict[str, str]]:
    """A committed copy of the example pipeline, notebook and data; its environment for mlops-nb."""
    root = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    shutil.copytree(ROOT / "pipelines", root / "pipelines")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "mlops.toml").write_text("", encoding="utf-8")
    (root / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
            cwd=root,
            check=True,
        )
    env = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}}
    env.update(MLOPS_NB_PROJECT=str(root), PYTHONPATH=str(ROOT), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    return root, env


def _timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(
            f"failed ({done.returncode}): mlops-nb {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate the measurements N times, keep the best"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    original = snapshot = source = float("inf")
    verdicts = set()
    for _ in range(args.repeat):
        root, env = _project()
        seconds, out = _timed(
            ["run", "pipelines/train_classifier.yaml", "--no-progress", "--json"], env, root
        )
        original = min(original, seconds)
        version = json.loads(out)["model_version"]
        for mode in ("snapshot", "source"):
            seconds, out = _timed(
                ["reproduce", MODEL, "--version", str(version), "--data", mode, "--json"], env, root
            )
            verdicts.add(json.loads(out)["verdict"])
            if mode == "snapshot":
                snapshot = min(snapshot, seconds)
            else:
                source = min(source, seconds)
        shutil.rmtree(root, ignore_errors=True)
    print(f"mlops-nb run (the original, registers version 1): {original:7.1f} s")
    print(
        f"mlops-nb reproduce, data from the snapshot:        {snapshot:7.1f} s  ({snapshot / original:.2f}x)"
    )
    print(f"mlops-nb reproduce, data from the source:          {source:7.1f} s  ({source / original:.2f}x)")
    print(
        f"verdicts: {', '.join(sorted(verdicts))}  (best of {args.repeat}; load average now {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
