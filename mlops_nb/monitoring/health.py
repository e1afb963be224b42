"""Service health of a window: out-of-domain input rate (and per column), latency percentiles, error rate,
traffic share per version and variant over time, counted chunk by chunk (latency in log-spaced bins)."""

from __future__ import annotations

from typing import Any

from mlops_nb.monitoring.drift import DRIFT, INSUFFICIENT, OK, verdict
from mlops_nb.monitoring.settings import Thresholds

_LATENCY_EDGES = (1e-3, 1e7, 1200)  # ms: log-spaced bins about 1.6% wide


class Health:
    """Accumulates the health figures of every version answering in the window."""

    def __init__(self, buckets: int) -> None:
        import numpy as np

        self.edges = np.geomspace(*_LATENCY_EDGES[:2], _LATENCY_EDGES[2])
        self.latency = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.buckets = buckets
        self.arms: dict[tuple[str, str, str], dict[str, Any]] = {}  # (version, variant, alias) -> counts
        self.rows = self.ok_rows = self.ood_rows = 0
        self.ood_columns: dict[str, int] = {}

    def add(self, batch: Any, bucket: Any) -> None:
        """Count a chunk (ts, row, model_version, variant, alias, status, latency_ms, ood_count, ood)."""
        import numpy as np
        import pyarrow.compute as pc

        first = np.asarray(pc.fill_null(pc.equal(batch["row"], 0), False).to_numpy(zero_copy_only=False))
        ok = np.asarray(pc.fill_null(pc.equal(batch["status"], "ok"), False).to_numpy(zero_copy_only=False))
        ood = np.asarray(pc.fill_null(batch["ood_count"], 0).to_numpy(zero_copy_only=False)) > 0
        self.rows += batch.num_rows
        self.ok_rows += int(ok.sum())
        self.ood_rows += int((ood & ok).sum())
        latency = np.asarray(pc.fill_null(batch["latency_ms"], np.nan).to_numpy(zero_copy_only=False))[first]
        latency = latency[np.isfinite(latency)]
        self.latency += np.bincount(np.searchsorted(self.edges, latency), minlength=len(self.edges) + 1)
        if batch["ood"].null_count < batch.num_rows:
            flat = pc.list_flatten(batch["ood"])
            if len(flat):
                for item in pc.value_counts(flat).to_pylist():
                    self.ood_columns[item["values"]] = (
                        self.ood_columns.get(item["values"], 0) + item["counts"]
                    )
        import pyarrow as pa

        heads = pa.table(
            {
                **{c: pc.fill_null(batch[c], "") for c in ("model_version", "variant", "alias")},
                "bucket": pa.array(bucket),
                "error": pa.array((~ok).astype(np.int64)),
            }
        ).filter(pa.array(first))
        grouped = heads.group_by(["model_version", "variant", "alias", "bucket"]).aggregate(
            [("error", "sum"), ("error", "count")]
        )
        for row in grouped.to_pylist():
            key = (row["model_version"], row["variant"], row["alias"])
            arm = self.arms.setdefault(key, {"requests": 0, "errors": 0, "over_time": [0] * self.buckets})
            arm["requests"] += row["error_count"]
            arm["errors"] += row["error_sum"]
            arm["over_time"][int(row["bucket"])] += row["error_count"]

    def percentile(self, share: float) -> float | None:
        """The latency (ms) below which `share` of the requests answered (upper bin edge)."""
        import numpy as np

        total = int(self.latency.sum())
        if not total:
            return None
        index = int(np.searchsorted(np.cumsum(self.latency), share * total))
        return float(self.edges[min(index, len(self.edges) - 1)])

    def result(self, thresholds: Thresholds) -> dict[str, Any]:
        """The health check: its verdict (drift when the out-of-domain rate is above its limit) and figures."""
        requests = sum(arm["requests"] for arm in self.arms.values())
        errors = sum(arm["errors"] for arm in self.arms.values())
        traffic = [
            {"version": v, "variant": variant, "alias": alias, **arm, "share": arm["requests"] / requests}
            for (v, variant, alias), arm in sorted(self.arms.items())
        ]
        ood_rate = self.ood_rows / self.ok_rows if self.ok_rows else None
        error_rate = errors / requests if requests else None
        numbers = {
            "requests": requests,
            "rows": self.rows,
            "ood_rate": ood_rate,
            "ood_columns": self.ood_columns,
            "error_rate": error_rate,
            "errors_above_limit": bool(error_rate and error_rate > thresholds.max_error_rate),
            "latency_ms": {f"p{int(q * 100)}": self.percentile(q) for q in (0.5, 0.9, 0.99)},
            "traffic": traffic,
            "max_ood_rate": thresholds.max_ood_rate,
            "max_error_rate": thresholds.max_error_rate,
        }
        if ood_rate is None:
            return verdict(INSUFFICIENT, "no answered request in the window", **numbers)
        if ood_rate > thresholds.max_ood_rate:
            return verdict(
                DRIFT, f"{ood_rate:.1%} of rows out of domain, above {thresholds.max_ood_rate:.1%}", **numbers
            )
        return verdict(
            OK, f"{ood_rate:.1%} of rows out of domain; {errors} failed of {requests} requests", **numbers
        )
