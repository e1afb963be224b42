"""Benchmark: `data add` throughput on a 1,000,000-row CSV against copying it to Parquet with pandas.

`data add` reads the file, fingerprints every value, profiles every column, writes the Parquet snapshot and
records the version; the baseline only reads the CSV and writes Parquet. Prints figures and the ratio;
asserts nothing. Run: `.venv/bin/python benchmarks/bench_datasets.py`.
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 1_000_000


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(ROWS),
            "x0": rng.random(ROWS),
            "x1": rng.normal(size=ROWS),
            "age": rng.integers(18, 90, ROWS),
            "plan": rng.choice(["free", "basic", "pro", "enterprise"], ROWS),
            "country": rng.choice(["fr", "de", "it", "es", "pt"], ROWS),
            "churned": rng.random(ROWS) > 0.8,
        }
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "mlops.toml").write_text("", encoding="utf-8")
        os.environ["MLOPS_NB_PROJECT"] = str(root)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        source = root / "data.csv"
        table().to_csv(source, index=False)
        size = source.stat().st_size / 1e6

        from mlops_nb import datasets, store

        store.ensure_store()
        baseline = timed(lambda: pd.read_csv(source).to_parquet(root / "copy.parquet", index=False))
        added = timed(lambda: datasets.add("bench", source))
        again = timed(lambda: datasets.add("bench", source))  # same content: no second snapshot written
        print(f"{ROWS:,} rows, {size:.0f} MB of CSV")
        print(f"pandas read_csv + to_parquet : {baseline:6.2f} s  {ROWS / baseline / 1e6:5.2f} M rows/s")
        print(f"mlops-nb data add (new)      : {added:6.2f} s  {ROWS / added / 1e6:5.2f} M rows/s")
        print(f"mlops-nb data add (same data): {again:6.2f} s  {ROWS / again / 1e6:5.2f} M rows/s")
        print(f"ratio data add / pandas copy : {added / baseline:.2f}x the time")


if __name__ == "__main__":
    main()
