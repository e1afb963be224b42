"""Speed and memory of a monitoring pass (issue 11, "Speed"): 1,000,000 logged rows x 20 features
(15 numeric, 5 categorical) against a 100,000-row training reference, and the ratio against Evidently's
data drift preset on the same data.

The pass runs in a child process so its peak memory is its own: resident set growth during the pass
(read by columns and in chunks, so bounded) and Arrow's peak allocation. Goal: <= 10 s.

Evidently runs in its own environment (it is heavy): by default /tmp/evvenv/bin/python
(``python -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install evidently pyarrow 'pandas<3'``; Evidently
0.7 does not import under pandas 3); without it that part is
skipped with a message.

Usage: python benchmarks/bench_monitor.py [--dir /tmp/mlops-nb-bench-monitor] [--rows 1000000]
       [--evidently-python /tmp/evvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

NUMERIC, CATEGORICAL = 15, 5
REFERENCE_ROWS = 100_000


def frame(rows: int, seed: int, shift: float) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {f"n{i}": rng.normal(i, 1 + i / 10, size=rows) for i in range(NUMERIC)}
    data["n0"] = data["n0"] + shift  # one drifting feature
    for i in range(CATEGORICAL):
        data[f"c{i}"] = rng.choice([f"v{k}" for k in range(8)], size=rows)
    return pd.DataFrame(data)


def build(folder: Path, rows: int) -> None:
    """The reference (Parquet + its profile) and the inference log, made once."""
    import numpy as np

    from mlops_nb.capture.profile import profile
    from tests.monitoring.logs import write_log

    marker = folder / f"built-{rows}"
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    reference = frame(REFERENCE_ROWS, 1, 0.0)
    reference.to_parquet(folder / "reference.parquet")
    (folder / "profile.json").write_text(json.dumps(profile(reference, name="train", context="training")))
    current = frame(rows, 2, 0.3)
    current.to_parquet(folder / "current.parquet")
    write_log(folder / "log", current, np.zeros(rows), rows_per_part=250_000)
    marker.touch()


def child(folder: Path) -> None:
    """One pass, printed as JSON: seconds (imports done first, timed apart), peak resident set growth
    during the pass (sampled every 10 ms) and Arrow's peak allocation."""
    import threading

    import psutil

    started = time.perf_counter()
    import pyarrow as pa

    from mlops_nb.monitoring import check, window
    from mlops_nb.monitoring.served import Served
    from mlops_nb.scheduling import triggers  # noqa: F401 - the CLI process has it loaded already

    imports = time.perf_counter() - started
    prof = json.loads((folder / "profile.json").read_text())
    info = Served("m", "champion", "1", None, prof, None)
    settings = _settings(folder)
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = check.run_pass(info, window.window(), log_dir=folder / "log", settings=settings)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    drifting = sorted(n for n, r in result["features"].items() if r["verdict"] == "drift")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "imports": imports,
                "rss_growth_mb": (peak - baseline) / 2**20,
                "arrow_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
                "drifting": drifting,
            }
        )
    )


def _settings(folder: Path) -> object:
    from mlops_nb import config

    (folder / "project").mkdir(exist_ok=True)
    (folder / "project" / "mlops.toml").touch()
    return config.load(folder / "project")


EVIDENTLY = """
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1]); current = pd.read_parquet(sys.argv[2])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds}))
"""


def evidently(python: Path, folder: Path) -> float | None:
    if not python.exists():
        print(
            f"Evidently: skipped, no {python}. Install it apart: python -m venv /tmp/evvenv && "
            "/tmp/evvenv/bin/pip install evidently pyarrow 'pandas<3'"
        )
        return None
    done = subprocess.run(
        [str(python), "-c", EVIDENTLY, str(folder / "reference.parquet"), str(folder / "current.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(
            f"Evidently: skipped, it is not importable or failed there: {done.stderr.strip().splitlines()[-1:]}"
        )
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default="/tmp/mlops-nb-bench-monitor")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-python", default="/tmp/evvenv/bin/python")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.dir) / str(args.rows)
    if args.child:
        child(folder)
        return
    build(folder, args.rows)
    done = subprocess.run(
        [sys.executable, __file__, "--dir", args.dir, "--rows", str(args.rows), "--child"],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"monitoring pass over {args.rows:,} logged rows x {NUMERIC + CATEGORICAL} features: {ours['seconds']:.2f} s "
        f"(goal <= 10 s; imports before it {ours['imports']:.1f} s); peak resident set growth "
        f"{ours['rss_growth_mb']:.0f} MB, Arrow peak {ours['arrow_peak_mb']:.0f} MB; "
        f"drifting: {', '.join(ours['drifting']) or 'none'}"
    )
    theirs = evidently(Path(args.evidently_python), folder)
    print(f"load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if theirs is not None:
        print(
            f"Evidently DataDriftPreset on the same data: {theirs:.2f} s; mlops_nb is {theirs / ours['seconds']:.1f}x faster"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
