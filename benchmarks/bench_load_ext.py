"""Benchmark 3 of issue 2: `%load_ext mlops_nb` in a fresh IPython process vs `import mlflow`.

Each figure is the median of several fresh interpreter processes (import caches are per process).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

LOAD_EXT = """
import time, sys, IPython
ip = IPython.core.interactiveshell.InteractiveShell.instance()
t = time.perf_counter()
ip.run_line_magic("load_ext", "mlops_nb")
elapsed = time.perf_counter() - t
heavy = [m for m in ("mlflow", "pandas", "sklearn") if m in sys.modules]
print(elapsed, ",".join(heavy))
"""
IMPORT_MLFLOW = """
import time
t = time.perf_counter()
import mlflow
print(time.perf_counter() - t)
"""


def _measure(code: str, repeat: int) -> tuple[float, str]:
    times, extra = [], ""
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
        extra = out[1] if len(out) > 1 else ""
    return statistics.median(times), extra


def main() -> None:
    load_ext, heavy = _measure(LOAD_EXT, 5)
    mlflow_import, _ = _measure(IMPORT_MLFLOW, 3)
    print(f"%load_ext mlops_nb   {load_ext * 1000:8.1f} ms  (goal < 150 ms)")
    print(f"import mlflow        {mlflow_import * 1000:8.1f} ms")
    print(f"ratio import mlflow / load_ext = {mlflow_import / load_ext:.1f}x")
    print(f"heavy modules loaded by %load_ext: {heavy or 'none'}")


if __name__ == "__main__":
    main()
