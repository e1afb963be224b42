"""The statistics behind the data gate, computed from split profiles (no rows, no scipy).

Distributions are known only through their profiles: 101 percentiles, a 20-bin histogram, category
counts. A CDF is read off the percentiles by linear interpolation; drift statistics come with the
p-value of the matching large-sample test, so a gate can tell a real shift from sampling noise.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

SHARE_FLOOR = 1e-4  # PSI's usual floor for an empty bin: one empty bin gives a large but finite term


def cdf(percentiles: Sequence[float], x: float, *, strict: bool = False) -> float:
    """P(X < x) (strict) or P(X <= x), read off percentiles p0..p100 by linear interpolation."""
    n = len(percentiles) - 1
    i = bisect_left(percentiles, x) if strict else bisect_right(percentiles, x)
    if i == 0:
        return 0.0
    if i > n:
        return 1.0
    low, high = percentiles[i - 1], percentiles[i]
    if strict and high == x:
        return i / n
    if not strict and low == x:
        return (i - 1) / n
    return (i - 1 + (x - low) / (high - low)) / n


def ks_distance(first: Sequence[float], second: Sequence[float]) -> tuple[float, float]:
    """Largest gap between two CDFs given by their percentiles, and the value where it occurs."""
    best, where = 0.0, first[0]
    for x in sorted(set(first) | set(second)):
        for strict in (True, False):
            gap = abs(cdf(first, x, strict=strict) - cdf(second, x, strict=strict))
            if gap > best:
                best, where = gap, x
    return best, where


def psi(current: Sequence[float], reference: Sequence[float]) -> float:
    """Population stability index: sum over bins of (c - r) * ln(c / r), shares floored at 1e-4."""
    total = 0.0
    for cur, ref in zip(current, reference, strict=True):
        c, r = max(cur, SHARE_FLOOR), max(ref, SHARE_FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def effective_size(first: int, second: int) -> float:
    """n1 * n2 / (n1 + n2): the sample size that two-sample tests scale with."""
    return first * second / (first + second) if first and second else 0.0


def homogeneity_statistic(
    current: Sequence[float], reference: Sequence[float], sizes: tuple[int, int]
) -> tuple[float, int]:
    """Chi-square statistic that two samples (bin shares, sample sizes) share one distribution, and its
    degrees of freedom (bins with a value on either side, minus one)."""
    n_cur, n_ref = sizes
    statistic, bins = 0.0, 0
    for cur, ref in zip(current, reference, strict=True):
        pooled = (n_cur * cur + n_ref * ref) / (n_cur + n_ref)
        if pooled > 0:
            statistic += (cur - ref) ** 2 / pooled
            bins += 1
    return statistic * effective_size(n_cur, n_ref), bins - 1


def homogeneity_p_value(
    current: Sequence[float], reference: Sequence[float], sizes: tuple[int, int]
) -> float:
    """P-value of the chi-square test that two samples (bin shares, sample sizes) share one distribution.

    This, not PSI itself, measures significance: PSI's floor for empty bins makes it large on small
    samples by chance, while the chi-square statistic uses the pooled shares and stays well-behaved.
    """
    statistic, df = homogeneity_statistic(current, reference, sizes)
    return chi2_sf(statistic, df) if df > 0 else 1.0


def cramers_v(current: Sequence[float], reference: Sequence[float]) -> float:
    """Cramér's V of the two-row table of bin shares, taken at equal sample sizes: an effect size in
    [0, 1] that, unlike the chi-square statistic, does not grow with the number of rows (0: same shares,
    1: no bin in common)."""
    total = sum((c - r) ** 2 / (c + r) for c, r in zip(current, reference, strict=True) if c + r > 0)
    return math.sqrt(max(total, 0.0) / 2)


def ks_p_value(distance: float, size: float) -> float:
    """Asymptotic two-sample Kolmogorov-Smirnov p-value of `distance`."""
    return kolmogorov_sf(distance * math.sqrt(size))


def chi2_sf(x: float, df: int) -> float:
    """Survival function of the chi-square distribution with integer `df` degrees of freedom."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        term = total = math.exp(-half)
        for k in range(1, df // 2):
            term *= half / k
            total += term
        return min(total, 1.0)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(2 * x / math.pi) * math.exp(-half)
    for k in range(1, (df + 1) // 2):
        total += term
        term *= x / (2 * k + 1)
    return min(total, 1.0)


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (limit of sqrt(n) * D)."""
    if x < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return min(max(2 * total, 0.0), 1.0)


def standardized_difference(mean: float, std: float, ref_mean: float, ref_std: float) -> float | None:
    """(mean - ref_mean) over the pooled standard deviation; None when both are constant and differ."""
    pooled = math.sqrt((std**2 + ref_std**2) / 2)
    if pooled == 0 or not math.isfinite(pooled):
        return 0.0 if mean == ref_mean else None
    return (mean - ref_mean) / pooled


def shares_outside(
    percentiles: Sequence[float], edges: Sequence[float], counts: Sequence[int], low: float, high: float
) -> tuple[float, float]:
    """Shares of values below `low` and above `high`, from a CDF through both summaries' knots.

    The percentiles place the body well and the histogram's exact counts place the tails (an empty
    run of bins before a lone extreme value), so together they beat either alone.
    """
    total = float(sum(counts))
    knots = [(float(x), k / (len(percentiles) - 1)) for k, x in enumerate(percentiles)]
    if total > 0 and len(edges) == len(counts) + 1:
        running = 0
        for edge, count in zip(edges[:-1], counts, strict=True):
            knots.append((float(edge), running / total))  # values below this edge
            running += count
    knots.sort()
    xs, fs, top = [], [], 0.0
    for x, f in knots:
        top = max(top, f)
        xs.append(x)
        fs.append(top)
    return _knot_cdf(xs, fs, low, strict=True), 1.0 - _knot_cdf(xs, fs, high, strict=False)


def _knot_cdf(xs: list[float], fs: list[float], x: float, *, strict: bool) -> float:
    i = bisect_left(xs, x) if strict else bisect_right(xs, x)
    if i == 0:
        return 0.0
    if i == len(xs):
        return 1.0
    if strict and xs[i] == x:
        return fs[i - 1] if xs[i - 1] < x else fs[i]
    if not strict and xs[i - 1] == x:
        return fs[i - 1]
    return fs[i - 1] + (fs[i] - fs[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def exceedance_p_value(exceeding: int, size: int, reference_size: int) -> float:
    """Chance that `exceeding` or more of `size` new values lie beyond the extreme of `reference_size`
    values of the same distribution (the k largest of the pooled sample all being new ones)."""
    p = 1.0
    for i in range(exceeding):
        p *= (size - i) / (size + reference_size - i)
    return p
