"""Drift of one column between the live window and the reference profile of the served version.

The live side is counted exactly, chunk by chunk (bounded memory); the reference is known through its
profile (capture/profile.py): 101 percentiles and a histogram for numbers, category counts otherwise.

Numbers: PSI over the reference histogram's bins (merged to hold 5% each, as the data gate does), KS from
the largest gap between the live CDF and the reference's at the reference percentiles and histogram edges,
and the Wasserstein distance scaled by the reference's standard deviation as the effect size. Categories:
PSI and the chi-square test over the reference categories (plus one bin for the rest), Cramér's V as the
effect size. Verdict: ``insufficient data`` below ``min_per_bin`` rows per bin (the minimum scales with
the bins); ``drift`` only when the shift is significant (p < alpha) AND large (effect size or PSI above its
threshold): on a large sample a p-value alone flags differences too small to matter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from mlops_nb.gates import stats
from mlops_nb.gates.data import reference_cuts
from mlops_nb.monitoring.settings import Thresholds

OK, DRIFT, INSUFFICIENT, NOT_COMPUTED = "ok", "drift", "insufficient data", "not computed"
VERDICTS = (OK, DRIFT, INSUFFICIENT, NOT_COMPUTED)
MAX_CATEGORIES = 10_000  # distinct live values counted one by one; more are counted together
OTHER = "(other)"


def verdict(kind: str, reason: str, **numbers: Any) -> dict[str, Any]:
    """A check's outcome: its verdict, why, and the numbers behind it."""
    return {"verdict": kind, "reason": reason, **numbers}


def text_values(array: Any) -> Any:
    """An Arrow array as the text the profile stores for a category (``str(value)``: True, 3, 2.5)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "True", "False")
    if pa.types.is_floating(array.type):  # 3.0 -> "3" as the profile of an integer column says it
        whole = pc.equal(array, pc.floor(array))
        return pc.if_else(
            whole, pc.cast(pc.cast(array, pa.int64(), safe=False), pa.string()), pc.cast(array, pa.string())
        )
    return pc.cast(array, pa.string())


def missing(n: int, absent: int, reference: Mapping[str, Any]) -> dict[str, Any]:
    """The live window's missing values (null, NaN, infinite, not a number) beside the reference's rate."""
    return {
        "missing": absent,
        "missing_rate": absent / (n + absent) if n + absent else None,
        "reference_missing_rate": reference.get("missing_rate"),
    }


def tally(bucket: Any, bins: Any, shape: tuple[int, int]) -> Any:
    """Counts of (time bucket, bin) pairs as a `shape` matrix (bincount: far faster than np.add.at)."""
    import numpy as np

    flat = np.asarray(bucket, dtype=np.int64) * shape[1] + np.asarray(bins, dtype=np.int64)
    return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)


class _Window(ABC):
    """What both kinds of column share: the window's verdict from its sample sizes, PSI (per time bucket too)
    and the kind's own test and effect size (`measure`), judged against the kind's `effect_setting` threshold."""

    n: int
    missing: int
    reference: Mapping[str, Any]
    counts: Any  # buckets x bins counts
    usable: bool
    effect_setting: tuple[str, str]  # the Thresholds field limiting the effect size, and its name in verdicts

    @abstractmethod
    def bins(self, thresholds: Thresholds) -> tuple[int, int]:
        """The number of PSI bins and the fewest rows (each side) a verdict needs."""

    @abstractmethod
    def reference_shares(self) -> list[float]:
        """The reference's share of each PSI bin."""

    @abstractmethod
    def measure(self, live: list[float], ref_shares: list[float], ref_count: int) -> dict[str, Any]:
        """The kind's test and effect size: numbers with at least `p_value` and `effect_size`."""

    def result(self, thresholds: Thresholds) -> dict[str, Any]:
        """The verdict and numbers of the whole window, and PSI per time bucket (None: too few rows)."""
        if not self.usable:
            return verdict(NOT_COMPUTED, "the reference has no values in this column", n=self.n)
        bins, minimum = self.bins(thresholds)
        ref_count = int(self.reference.get("count") or 0)
        ref_shares = self.reference_shares()
        over_time = self.psi_over_time(ref_shares, minimum)
        numbers = self.sample(ref_count, bins, minimum)
        if self.n < minimum or ref_count < minimum:
            return self.insufficient(numbers, thresholds, over_time)
        live = (self.counts.sum(axis=0) / self.n).tolist()
        psi = stats.psi(live, ref_shares)
        measured = self.measure(live, ref_shares, ref_count)
        numbers.update(psi=psi, **measured, psi_over_time=over_time)
        limit, name = self.effect_setting
        return judge(
            numbers,
            p_value=measured["p_value"],
            effect=measured["effect_size"],
            psi=psi,
            thresholds=thresholds,
            effect_limit=getattr(thresholds, limit),
            effect_name=name,
        )

    def psi_over_time(self, ref_shares: list[float], minimum: int) -> list[float | None]:
        """PSI of each time bucket against the reference shares (None: fewer than `minimum` rows)."""
        return [
            stats.psi((row / total).tolist(), ref_shares) if (total := int(row.sum())) >= minimum else None
            for row in self.counts
        ]

    def sample(self, ref_count: int, bins: int, minimum: int) -> dict[str, Any]:
        """The numbers every verdict carries: live and reference rows, bins, the minimum, missing values."""
        return {
            "n": self.n,
            "reference_n": ref_count,
            "bins": bins,
            "min_rows": minimum,
            **missing(self.n, self.missing, self.reference),
        }

    def insufficient(
        self, numbers: dict[str, Any], thresholds: Thresholds, over_time: list[Any]
    ) -> dict[str, Any]:
        """`insufficient data`, naming the side (live or reference) below the stated minimum."""
        minimum, ref_count, bins = numbers["min_rows"], numbers["reference_n"], numbers["bins"]
        side = "live rows" if self.n < minimum else "reference rows"
        gaps = f", {self.missing} more missing" if self.missing and self.n < minimum else ""
        return verdict(
            INSUFFICIENT,
            f"{min(self.n, ref_count)} {side}{gaps}, fewer than {minimum} "
            f"({thresholds.min_per_bin} per bin x {bins} bins)",
            **numbers,
            psi_over_time=over_time,
        )


class NumericDrift(_Window):
    """Accumulates a numeric column's live values against a numeric reference profile."""

    effect_setting = ("wasserstein", "Wasserstein/std")

    def __init__(self, reference: Mapping[str, Any], buckets: int) -> None:
        import numpy as np

        self.reference = reference
        self.percentiles = [float(p) for p in reference.get("percentiles") or [] if p is not None]
        self.usable = len(self.percentiles) == 101 and int(reference.get("count") or 0) > 0
        self.cuts = np.asarray(reference_cuts(reference), dtype=np.float64)
        edges = [float(e) for e in (reference.get("histogram") or {}).get("edges") or [] if e is not None]
        self.grid = np.unique(np.asarray(self.percentiles + edges, dtype=np.float64))
        self.counts = np.zeros((buckets, len(self.cuts) + 1), dtype=np.int64)  # PSI bins per time bucket
        self.grid_counts = np.zeros(len(self.grid) + 1, dtype=np.int64)
        self.tails = [0.0, 0.0]  # sum of (p0 - x) below p0, of (x - p100) above p100
        self.n = self.missing = 0
        self.total = 0.0

    def add(self, array: Any, bucket: Any) -> None:
        """Count a chunk's values (`bucket`: each row's time bucket); values that are not numbers count as
        missing."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            values = np.asarray(pc.cast(array, "float64").to_numpy(zero_copy_only=False), dtype=np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a part logged the column as text
            self.missing += len(array)
            return
        finite = np.isfinite(values)
        self.missing += int(values.size - finite.sum())
        if not self.usable:
            return
        values, bucket = values[finite], bucket[finite]
        self.n += values.size
        bins = np.searchsorted(self.cuts, values, side="right")
        self.counts += tally(bucket, bins, self.counts.shape)
        self.grid_counts += np.bincount(
            np.searchsorted(self.grid, values, side="left"), minlength=len(self.grid) + 1
        )
        low, high = self.percentiles[0], self.percentiles[-1]
        with np.errstate(over="ignore"):  # values near the float limit: mean and distance infinite (null)
            self.total += float(values.sum())
            self.tails[0] += float((low - values[values < low]).sum())
            self.tails[1] += float((values[values > high] - high).sum())

    def reference_shares(self) -> list[float]:
        """The reference's exact shares of the PSI bins (the cuts are edges of its histogram)."""
        histogram = self.reference.get("histogram") or {}
        edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
        total = float(sum(counts)) or 1.0
        shares = [0.0] * (len(self.cuts) + 1)
        cut_list = [float(c) for c in self.cuts]
        for lower, count in zip(edges[:-1], counts, strict=True):
            index = sum(1 for cut in cut_list if cut <= float(lower))
            shares[index] += count / total
        return shares

    def bins(self, thresholds: Thresholds) -> tuple[int, int]:
        bins = len(self.cuts) + 1
        return bins, thresholds.min_per_bin * bins

    def measure(self, live: list[float], ref_shares: list[float], ref_count: int) -> dict[str, Any]:
        """KS and the Wasserstein distance over the reference's std."""
        ks, at = self._ks()
        p_value = stats.ks_p_value(ks, stats.effective_size(self.n, ref_count))
        std = float(self.reference.get("std") or 0.0)
        distance = self._wasserstein()
        effect = distance / std if std > 0 else (0.0 if distance == 0 else 1.0)  # a constant column moved
        return {
            "ks": ks,
            "ks_at": at,
            "p_value": p_value,
            "wasserstein": distance,
            "effect_size": effect,
            "effect": "wasserstein/std",
            "mean": self.total / self.n,
            "reference_mean": self.reference.get("mean"),
        }

    def _ks(self) -> tuple[float, float]:
        import numpy as np

        live = np.cumsum(self.grid_counts)[:-1] / self.n  # P(X <= g) at each grid point
        reference = np.array([stats.cdf(self.percentiles, float(g)) for g in self.grid])
        gaps = np.abs(live - reference)
        index = int(np.argmax(gaps))
        return float(gaps[index]), float(self.grid[index])

    def _wasserstein(self) -> float:
        """W1 = integral of |F_live - F_ref|: trapezoids over the grid within the reference range, the
        exact mean excess beyond it."""
        import numpy as np

        live = np.cumsum(self.grid_counts)[:-1] / self.n
        reference = np.array([stats.cdf(self.percentiles, float(g)) for g in self.grid])
        gaps = np.abs(live - reference)
        inside = float(np.sum((gaps[1:] + gaps[:-1]) / 2 * np.diff(self.grid))) if len(self.grid) > 1 else 0.0
        return inside + (self.tails[0] + self.tails[1]) / self.n


class CategoricalDrift(_Window):
    """Accumulates a column's live categories against a categorical (or boolean) reference profile."""

    effect_setting = ("cramers_v", "Cramér's V")

    def __init__(self, reference: Mapping[str, Any], buckets: int) -> None:
        top = reference.get("top") or []
        self.reference = reference
        self.categories = [str(item["value"]) for item in top]
        self.index = {value: i for i, value in enumerate(self.categories)}
        count = float(reference.get("count") or 0)
        shares = [float(item["count"]) / count for item in top] if count else []
        rest = max(0.0, 1.0 - sum(shares))
        self.ref_shares = [*shares, rest]  # the last bin: rarer reference values and new ones
        import numpy as np

        self.counts = np.zeros((buckets, len(self.categories) + 1), dtype=np.int64)
        self.new: dict[str, int] = {}
        self.n = self.missing = 0

    def add(self, array: Any, bucket: Any) -> None:
        """Count a chunk's categories (`bucket`: each row's time bucket)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        self.missing += array.null_count
        valid = pc.is_valid(array)
        texts = text_values(pc.filter(array, valid))
        bucket = np.asarray(bucket)[np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)]
        if len(texts) == 0:
            return
        self.n += len(texts)
        codes = pc.index_in(texts, value_set=pa.array(self.categories, pa.string()))
        codes = np.asarray(pc.fill_null(codes, len(self.categories)).to_numpy(zero_copy_only=False))
        self.counts += tally(bucket, codes, self.counts.shape)
        unknown = pc.filter(texts, pa.array(codes == len(self.categories)))
        if len(unknown) and len(self.new) < MAX_CATEGORIES:
            for item in pc.value_counts(unknown).to_pylist():
                self.new[item["values"]] = self.new.get(item["values"], 0) + item["counts"]

    @property
    def usable(self) -> bool:
        return bool(self.categories)

    def bins(self, thresholds: Thresholds) -> tuple[int, int]:
        bins = len(self.categories) + (1 if self.ref_shares[-1] > 0 or self.new else 0)
        return bins, thresholds.min_per_bin * max(bins, 2)

    def reference_shares(self) -> list[float]:
        return self.ref_shares

    def measure(self, live: list[float], ref_shares: list[float], ref_count: int) -> dict[str, Any]:
        """The chi-square test of homogeneity and Cramér's V, with the most frequent new categories."""
        chi2, df = stats.homogeneity_statistic(live, ref_shares, (self.n, ref_count))
        effect = stats.cramers_v(live, ref_shares)
        new = sorted(self.new.items(), key=lambda item: -item[1])[:10]
        return {
            "chi2": chi2,
            "df": df,
            "p_value": stats.chi2_sf(chi2, df) if df > 0 else 1.0,
            "cramers_v": effect,
            "effect_size": effect,
            "effect": "cramers_v",
            "new_categories": dict(new),
        }


def _short(value: float) -> str:
    """0.123 as before; 5.1e+303 (an outlier near the float limit) instead of its 300 digits."""
    return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.3g}"


def judge(
    numbers: dict[str, Any],
    *,
    p_value: float,
    effect: float,
    psi: float,
    thresholds: Thresholds,
    effect_limit: float,
    effect_name: str,
) -> dict[str, Any]:
    """Drift when significant (p < alpha) and large (effect size or PSI above its threshold)."""
    significant = p_value < thresholds.alpha
    large = effect > effect_limit or psi > thresholds.psi
    sizes = (
        f"{effect_name} {_short(effect)} (limit {effect_limit}), PSI {_short(psi)} (limit {thresholds.psi})"
    )
    if significant and large:
        return verdict(DRIFT, f"{sizes}, p={p_value:.2g} < {thresholds.alpha}", **numbers)
    if significant:
        return verdict(OK, f"significant (p={p_value:.2g}) but small: {sizes}", **numbers)
    return verdict(OK, f"{sizes}; within sampling noise (p={p_value:.2g})", **numbers)


def accumulator(reference: Mapping[str, Any] | None, buckets: int) -> NumericDrift | CategoricalDrift | None:
    """The accumulator for a column of reference kind numeric, categorical or boolean (None: other kinds)."""
    kind = (reference or {}).get("kind")
    if kind == "numeric":
        return NumericDrift(reference, buckets)  # type: ignore[arg-type]
    if kind in ("categorical", "boolean"):
        return CategoricalDrift(reference, buckets)  # type: ignore[arg-type]
    return None
