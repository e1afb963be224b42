"""Inference logs and feedback written in the SERVING.md format (pyarrow), for the monitoring tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

START = datetime(2026, 1, 1, tzinfo=UTC)


def write_log(
    directory: Path,
    inputs: pd.DataFrame,
    predictions: Any,
    *,
    version: str = "1",
    alias: str = "champion",
    variant: str = "main",
    start: datetime = START,
    spacing: timedelta = timedelta(seconds=1),
    ood: list[list[str]] | None = None,
    errors: int = 0,
    part: int = 0,
    rows_per_part: int = 250_000,
    model: str | None = None,
) -> list[str]:
    """One single-row request per input row (then `errors` failed requests); returns the request ids.
    `model`: the logged model name, by default the folder's name in `.../inference/<model>/`, else m."""
    directory.mkdir(parents=True, exist_ok=True)
    model = model or (directory.name if directory.parent.name == "inference" else "m")
    n = len(inputs)
    ids = [uuid.uuid4().hex for _ in range(n + errors)]
    ts = pd.date_range(start, periods=n + errors, freq=spacing, tz="UTC")
    ood = ood or [[] for _ in range(n)]
    columns: dict[str, Any] = {
        "request_id": pa.array(ids, pa.string()),
        "row": pa.array(np.zeros(n + errors, dtype=np.int32)),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "model_name": pa.array([model] * (n + errors)),
        "model_version": pa.array([version] * (n + errors)),
        "alias": pa.array([alias] * (n + errors)),
        "variant": pa.array([variant] * (n + errors)),
        "source": pa.array(["rest"] * (n + errors)),
        "status": pa.array(["ok"] * n + ["error"] * errors),
        "error": pa.array([None] * n + ["boom"] * errors, pa.string()),
        "latency_ms": pa.array(np.linspace(1.0, 10.0, n + errors)),
    }
    for name in inputs.columns:
        values = pa.array(inputs[name])
        columns[f"in.{name}"] = pa.concat_arrays([values, pa.nulls(errors, values.type)])
    preds = pa.array(predictions)
    columns["prediction"] = pa.concat_arrays([preds, pa.nulls(errors, preds.type)])
    columns["ood"] = pa.array([*ood, *([None] * errors)], pa.list_(pa.string()))
    columns["ood_count"] = pa.array([len(x) for x in ood] + [0] * errors, pa.int16())
    table = pa.table(columns)
    for number, offset in enumerate(range(0, len(table), rows_per_part)):
        name = f"part-{start:%Y%m%dT%H%M%S}-{part}-{number:04d}.parquet"
        pq.write_table(table.slice(offset, rows_per_part), directory / name)
    return ids


def write_feedback(
    directory: Path, ids: list[str], labels: list[Any], rewards: list[float] | None = None
) -> None:
    """Labels (and rewards) for request ids, as the feedback store keeps them."""
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "row": pa.nulls(len(ids), pa.int32()),
            "ts": pa.array([datetime.now(UTC)] * len(ids), pa.timestamp("us", tz="UTC")),
            "reward": pa.array(rewards if rewards is not None else [None] * len(ids), pa.float64()),
            "label": pa.array([json.dumps(x) for x in labels], pa.string()),
        }
    )
    pq.write_table(table, directory / f"part-20260101T000000-{uuid.uuid4().int % 10**9}-0.parquet")
