"""Benchmark 2: full-content split fingerprint vs memory-bandwidth hashing and vs MLflow's dataset digest.

Prints figures and ratios; asserts nothing. Run: `.venv/bin/python benchmarks/bench_fingerprint.py`.
"""

import time

import numpy as np
import pandas as pd
import xxhash

from mlops_nb.capture import data

ROWS = 1_000_000
CHANGED_ROW = 900_000


def best_of(repeat: int, fn, *args):
    """Shortest wall time of `repeat` calls (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def float_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((ROWS, 10)), columns=[f"f{i}" for i in range(10)])


def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = np.array([f"customer-{i:06d}" for i in range(50_000)])
    return pd.DataFrame(
        {
            "x0": rng.random(ROWS),
            "x1": rng.random(ROWS),
            "x2": rng.normal(size=ROWS),
            "age": rng.integers(18, 90, ROWS),
            "customer": pd.Series(rng.choice(words, ROWS), dtype="str"),
            "plan": pd.Categorical(rng.choice(["free", "basic", "pro", "enterprise"], ROWS)),
            "country": pd.Series(rng.choice(["fr", "de", "it", "es", "pt"], ROWS), dtype=object),
            "visits": pd.array(rng.integers(0, 50, ROWS), dtype="Int64"),
            "signup": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, ROWS), unit="s"),
            "churned": rng.random(ROWS) > 0.8,
        }
    )


def mlflow_digest(frame: pd.DataFrame) -> str:
    import mlflow

    return mlflow.data.from_pandas(frame).digest


def main() -> None:
    frame = float_frame()
    size = int(frame.memory_usage(index=False).sum())
    ours, digest = best_of(7, data.fingerprint, frame)
    contiguous = np.ascontiguousarray(frame.to_numpy())
    raw, _ = best_of(7, lambda: xxhash.xxh3_128(contiguous).hexdigest())
    print(f"float frame {ROWS:,} x 10 ({size / 1e6:.0f} MB)")
    print(f"  mlops_nb fingerprint           {ours * 1e3:8.1f} ms  {size / ours / 1e9:6.2f} GB/s")
    print(f"  raw xxh3_128, one buffer       {raw * 1e3:8.1f} ms  {size / raw / 1e9:6.2f} GB/s")
    print(f"  fingerprint / raw bandwidth    {raw / ours:8.2f}  (goal >= 0.5)")

    start = time.perf_counter()
    import mlflow  # noqa: F401  (import cost kept out of the digest timing)

    print(f"  (import mlflow                 {(time.perf_counter() - start) * 1e3:8.1f} ms, not counted)")
    theirs, their_digest = best_of(2, mlflow_digest, frame)
    print(f"  mlflow.data.from_pandas.digest {theirs * 1e3:8.1f} ms  {size / theirs / 1e9:6.2f} GB/s")
    print(f"  speed-up vs MLflow             {theirs / ours:8.0f}x  (goal >= 100x)")

    changed = frame.copy()
    changed.iloc[CHANGED_ROW, 3] += 1.0
    print(f"  value at row {CHANGED_ROW:,} changed:")
    print(f"    MLflow digest changed:   {mlflow_digest(changed) != their_digest}")
    print(f"    mlops_nb digest changed: {data.fingerprint(changed) != digest}")

    mixed = mixed_frame()
    mixed_size = int(mixed.memory_usage(index=False, deep=True).sum())
    ours_mixed, _ = best_of(5, data.fingerprint, mixed)
    theirs_mixed, _ = best_of(1, mlflow_digest, mixed)
    print(f"mixed frame {ROWS:,} x {mixed.shape[1]} ({mixed_size / 1e6:.0f} MB in memory, deep)")
    print("  columns: " + ", ".join(f"{c}:{t}" for c, t in mixed.dtypes.astype(str).items()))
    rate = mixed_size / ours_mixed / 1e9
    print(f"  mlops_nb fingerprint           {ours_mixed * 1e3:8.1f} ms  {rate:6.2f} GB/s")
    print(f"  mlflow.data.from_pandas.digest {theirs_mixed * 1e3:8.1f} ms")
    print(f"  speed-up vs MLflow             {theirs_mixed / ours_mixed:8.0f}x")
    for column in mixed.columns:
        seconds, _ = best_of(3, data.fingerprint, mixed[column])
        print(f"    {column:<9} {mixed[column].dtype!s:<15} {seconds * 1e3:7.2f} ms")

    for name, table in (("float", frame), ("mixed", mixed)):
        seconds, _ = best_of(1, lambda t=table: data.profile(t, name="train", context="training", digest="-"))
        hashes, _ = best_of(1, data.row_hashes, table)
        print(f"{name} frame: profile (statistics) {seconds * 1e3:.0f} ms, row_hashes {hashes * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
