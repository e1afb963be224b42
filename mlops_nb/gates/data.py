"""Data validation: a new dataset's profile against reference statistics.

Both sides are split profiles in the format that `mlops_nb.capture.profile.profile` writes
(`splits/<name>.json`): the reference is usually the champion's training split, the current one the
data a pipeline run just ingested. Only the profiles are compared, never the rows, so the reference
can come from any past run.

Checks, in order: row count; missing and new columns; per column: type (kind, and dtype when
`strict_dtypes`), missing-value rate, known domain (numeric range; unseen categories), and drift by
PSI (on the reference histogram bins or category frequencies) and KS (largest gap between the two
CDFs rebuilt from the 101 percentiles), with an effect size (standardized mean difference for numbers,
total variation distance for categories). A check fails when its value is strictly above its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mlops_nb.exceptions import UsageError
from mlops_nb.gates import stats
from mlops_nb.gates.data_report import (
    KS,
    MISSING_COLUMN,
    MISSING_RATE,
    NEW_COLUMN,
    PSI,
    RANGE,
    ROWS,
    TYPE,
    UNSEEN,
    Check,
    DataReport,
    DataThresholds,
)
from mlops_nb.gates.report import FAIL, PASS, SKIP, fmt

_MIN_BIN_SHARE = 0.05  # adjacent reference bins are merged until each holds 5% of the reference rows
_CATEGORICAL = ("categorical", "boolean")


def validate_data(
    current_profile: Mapping[str, Any],
    reference_profile: Mapping[str, Any],
    thresholds: DataThresholds | None = None,
    *,
    source_columns: Collection[str] = (),
) -> DataReport:
    """Compare `current_profile` (new data) with `reference_profile` (known good data).

    `source_columns`: the columns of the data the reference was drawn from. A column of the new data
    that the reference split lacks but its source had is one the training notebook leaves out (an id,
    an unused feature): skipped, not failed as new."""
    thresholds = thresholds or DataThresholds()
    current = _columns(current_profile, "current")
    reference = _columns(reference_profile, "reference")
    checks = [_rows(current_profile, thresholds)]
    ignored = set(thresholds.ignore_columns)
    left_out = {str(name) for name in source_columns} - set(reference)
    for name in reference:
        if name not in current and name not in ignored:
            checks.append(
                Check(
                    MISSING_COLUMN, name, None, None, FAIL, f"Column {name!r} is missing from the new data."
                )
            )
    for name in current:
        if name in left_out and name not in ignored:
            checks.extend(
                _skipped(name, [NEW_COLUMN], "the reference split leaves this column of its source out")
            )
        elif name not in reference and name not in ignored:
            checks.append(
                Check(
                    NEW_COLUMN,
                    name,
                    None,
                    None,
                    FAIL,
                    f"Column {name!r} is new: the reference has no such column.",
                )
            )
    for name, (ref_schema, ref_stats) in reference.items():
        if name in current and name not in ignored:
            checks.extend(_column_checks(name, current[name], (ref_schema, ref_stats), thresholds))
    return DataReport(checks, thresholds, _identity(reference_profile), _identity(current_profile))


def _identity(profile: Mapping[str, Any]) -> dict[str, Any]:
    return {key: profile.get(key) for key in ("name", "context", "digest", "num_rows", "num_columns")}


def _columns(profile: Mapping[str, Any], side: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name -> (schema entry, statistics), in schema order."""
    if not isinstance(profile, Mapping) or not isinstance(profile.get("columns"), Mapping):
        raise UsageError(
            f"The {side} profile is not a split profile (no 'columns' mapping).",
            hint="Pass the dict of a `splits/<name>.json` artifact or of `capture.profile.profile(...)`.",
        )
    stats = profile["columns"]
    schema = {str(entry["name"]): entry for entry in profile.get("schema") or []}
    names = list(schema) + [str(name) for name in stats if str(name) not in schema]
    return {
        name: (schema.get(name, {"name": name, "kind": stats.get(name, {}).get("kind")}), stats.get(name, {}))
        for name in names
    }


def _rows(profile: Mapping[str, Any], thresholds: DataThresholds) -> Check:
    rows = int(profile.get("num_rows") or 0)
    if rows < thresholds.min_rows:
        return Check(
            ROWS,
            None,
            rows,
            thresholds.min_rows,
            FAIL,
            f"The new data has {rows} rows, fewer than {thresholds.min_rows}.",
        )
    return Check(ROWS, None, rows, thresholds.min_rows, PASS, f"{rows} rows.")


def _column_checks(
    name: str,
    cur: tuple[dict[str, Any], dict[str, Any]],
    ref: tuple[dict[str, Any], dict[str, Any]],
    thresholds: DataThresholds,
) -> list[Check]:
    (cur_schema, cur_stats), (ref_schema, ref_stats) = cur, ref
    kind, ref_kind = cur_schema.get("kind"), ref_schema.get("kind")
    dtype, ref_dtype = cur_schema.get("dtype"), ref_schema.get("dtype")
    if kind != ref_kind:
        return [
            Check(
                TYPE,
                name,
                f"{kind} ({dtype})",
                f"{ref_kind} ({ref_dtype})",
                FAIL,
                f"Column {name!r} changed type: {ref_kind} ({ref_dtype}) in the reference, "
                f"{kind} ({dtype}) now.",
            )
        ]
    checks = [_type_check(name, kind, dtype, ref_dtype, thresholds)]
    checks.append(_missing_rate(name, cur_stats, ref_stats, thresholds))
    if kind == "numeric":
        checks.extend(_numeric_checks(name, cur_stats, ref_stats, thresholds))
    elif kind in _CATEGORICAL:
        checks.extend(_categorical_checks(name, cur_stats, ref_stats, thresholds))
    return checks


def _type_check(
    name: str, kind: str | None, dtype: str | None, ref_dtype: str | None, thresholds: DataThresholds
) -> Check:
    if dtype == ref_dtype:
        return Check(
            TYPE,
            name,
            f"{kind} ({dtype})",
            f"{kind} ({ref_dtype})",
            PASS,
            f"{kind} ({dtype}) as in the reference.",
        )
    verdict = FAIL if thresholds.strict_dtypes else PASS
    why = "strict_dtypes is on" if thresholds.strict_dtypes else "same kind, allowed unless strict_dtypes"
    return Check(
        TYPE,
        name,
        f"{kind} ({dtype})",
        f"{kind} ({ref_dtype})",
        verdict,
        f"Column {name!r} changed dtype from {ref_dtype} to {dtype} ({why}).",
    )


def _missing_rate(
    name: str, cur: Mapping[str, Any], ref: Mapping[str, Any], thresholds: DataThresholds
) -> Check:
    rate, ref_rate = float(cur.get("missing_rate") or 0.0), float(ref.get("missing_rate") or 0.0)
    delta = rate - ref_rate
    limit = thresholds.missing_rate_delta
    text = f"missing-value rate {rate:.1%} vs {ref_rate:.1%} in the reference ({delta:+.1%}"
    if abs(delta) > limit:
        return Check(
            MISSING_RATE,
            name,
            abs(delta),
            limit,
            FAIL,
            f"Column {name!r}: {text}, more than ±{limit:.1%}).",
            {"rate": rate, "reference_rate": ref_rate},
        )
    return Check(
        MISSING_RATE,
        name,
        abs(delta),
        limit,
        PASS,
        f"{text[0].upper()}{text[1:]}).",
        {"rate": rate, "reference_rate": ref_rate},
    )


# --- numeric columns ----------------------------------------------------------------------------


def _percentiles(stats: Mapping[str, Any]) -> list[float] | None:
    values = stats.get("percentiles")
    if not values or any(value is None or not math.isfinite(float(value)) for value in values):
        return None
    out, top = [], -math.inf
    for value in values:  # guard against rounding making the list decrease by an ulp
        top = max(top, float(value))
        out.append(top)
    return out


def _skipped(name: str, checks: Sequence[str], reason: str) -> list[Check]:
    return [Check(check, name, None, None, SKIP, f"Not computed: {reason}.") for check in checks]


def _numeric_checks(
    name: str, cur: Mapping[str, Any], ref: Mapping[str, Any], thresholds: DataThresholds
) -> list[Check]:
    cur_q, ref_q = _percentiles(cur), _percentiles(ref)
    if cur_q is None or ref_q is None:
        side = "new data" if cur_q is None else "reference"
        return _skipped(name, (RANGE, PSI, KS), f"the {side} has no values in column {name!r}")
    checks = [_range(name, cur, ref, cur_q, thresholds)]
    counts = (int(cur.get("count") or 0), int(ref.get("count") or 0))
    if min(counts) < thresholds.drift_min_count:
        return [*checks, *_skipped(name, (PSI, KS), _too_few(counts, thresholds))]
    smd = stats.standardized_difference(
        float(cur["mean"]), float(cur.get("std") or 0.0), float(ref["mean"]), float(ref.get("std") or 0.0)
    )
    size = "n/a" if smd is None else f"{smd:+.2f}"
    shift = f"mean {fmt(cur['mean'])} vs {fmt(ref['mean'])}, standardized difference {size}"
    cuts = reference_cuts(ref)
    cur_shares, ref_shares = _bin_shares(cur_q, cuts), _bin_shares(ref_q, cuts)
    psi = stats.psi(cur_shares, ref_shares)
    p_psi = stats.homogeneity_p_value(cur_shares, ref_shares, counts)
    checks.append(
        _drift(
            PSI,
            name,
            value=psi,
            limit=thresholds.psi,
            p_value=p_psi,
            thresholds=thresholds,
            text=f"PSI {psi:.3f} over {len(ref_shares)} reference bins ({shift})",
            effect={"smd": smd},
        )
    )
    gap, at = stats.ks_distance(cur_q, ref_q)
    p_ks = stats.ks_p_value(gap, stats.effective_size(*counts))
    checks.append(
        _drift(
            KS,
            name,
            value=gap,
            limit=thresholds.ks,
            p_value=p_ks,
            thresholds=thresholds,
            text=f"KS {gap:.3f}, the largest CDF gap, at {fmt(at)} ({shift})",
            effect={"smd": smd},
        )
    )
    return checks


def _too_few(counts: tuple[int, int], thresholds: DataThresholds) -> str:
    return f"{min(counts)} values, fewer than drift_min_count={thresholds.drift_min_count}"


def _range(
    name: str, cur: Mapping[str, Any], ref: Mapping[str, Any], cur_q: list[float], thresholds: DataThresholds
) -> Check:
    """Share of new values beyond the reference [min, max] widened by `range_tolerance` of its width.

    Fails when that share is above `out_of_range_share` and more values lie beyond than chance allows
    (p < drift_alpha that this many of the new values exceed the extremes of the reference sample).
    """
    low, high = float(ref["min"]), float(ref["max"])
    cur_low, cur_high = float(cur["min"]), float(cur["max"])
    margin = thresholds.range_tolerance * (high - low if high > low else max(abs(high), 1.0))
    lowest, highest = low - margin, high + margin
    count, ref_count = max(int(cur.get("count") or 0), 1), int(ref.get("count") or 0)
    histogram = cur.get("histogram") or {}
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    below, above = stats.shares_outside(cur_q, edges, counts, lowest, highest)
    below = max(below, 1 / count) if cur_low < lowest else 0.0  # the min lies beyond: one value at least
    above = max(above, 1 / count) if cur_high > highest else 0.0
    share = below + above
    outside = max(round(below * count), round(above * count))
    p_value = min(1.0, 2 * stats.exceedance_p_value(outside, count, ref_count)) if ref_count else 0.0
    limit = thresholds.out_of_range_share
    details = {
        "min": cur_low,
        "max": cur_high,
        "reference_min": low,
        "reference_max": high,
        "allowed": [lowest, highest],
        "p_value": p_value,
    }
    allowed = f"the reference range [{fmt(low)}, {fmt(high)}] widened by {thresholds.range_tolerance:.0%}"
    if share == 0.0:
        return Check(
            RANGE, name, 0.0, limit, PASS, f"[{fmt(cur_low)}, {fmt(cur_high)}] within {allowed}.", details
        )
    text = f"about {share:.1%} of values lie outside {allowed} (new range [{fmt(cur_low)}, {fmt(cur_high)}])"
    if share > limit and p_value < thresholds.drift_alpha:
        return Check(
            RANGE,
            name,
            share,
            limit,
            FAIL,
            f"Column {name!r}: {text}, more than {limit:.1%} (p={p_value:.2g}).",
            details,
        )
    why = (
        f"within {limit:.1%}"
        if share <= limit
        else f"as many as chance allows at these sizes (p={p_value:.2g})"
    )
    return Check(RANGE, name, share, limit, PASS, f"{text[0].upper()}{text[1:]}; {why}.", details)


def reference_cuts(ref: Mapping[str, Any]) -> list[float]:
    """Inner edges of the reference histogram, adjacent bins merged until each holds 5% of the values."""
    histogram = ref.get("histogram") or {}
    edges, counts = list(histogram.get("edges") or []), list(histogram.get("counts") or [])
    total = float(sum(counts))
    if total <= 0 or len(edges) != len(counts) + 1:
        return []
    cuts, running = [], 0.0
    for upper, count in zip(edges[1:-1], counts[:-1], strict=True):
        running += count / total
        if running >= _MIN_BIN_SHARE:
            cuts.append(float(upper))
            running = 0.0
    if cuts and running + counts[-1] / total < _MIN_BIN_SHARE:  # fold a thin last bin into the one before
        cuts.pop()
    return cuts


def _bin_shares(percentiles: list[float], cuts: list[float]) -> list[float]:
    """Shares of the bins (-inf, c1), [c1, c2), ..., [ck, inf), both sides read off their percentiles.

    Reading both sides the same way (not the reference's exact counts against an estimate) keeps the
    interpolation error from counting as drift, notably for columns with few distinct values.
    """
    bounds = [0.0, *(stats.cdf(percentiles, cut, strict=True) for cut in cuts), 1.0]
    return [bounds[i + 1] - bounds[i] for i in range(len(cuts) + 1)]


def _drift(
    check: str,
    name: str,
    *,
    value: float,
    limit: float,
    p_value: float,
    thresholds: DataThresholds,
    text: str,
    effect: dict[str, Any],
) -> Check:
    """Fails when the drift is both larger than `limit` and significant at `drift_alpha`."""
    details = {**effect, "p_value": p_value}
    if value > limit and p_value < thresholds.drift_alpha:
        return Check(
            check,
            name,
            value,
            limit,
            FAIL,
            f"Column {name!r} drifted: {text}; above {limit} (p={p_value:.2g}).",
            details,
        )
    if value > limit:
        return Check(
            check,
            name,
            value,
            limit,
            PASS,
            f"{text}; above {limit} but within sampling noise at these sizes "
            f"(p={p_value:.2g} >= {thresholds.drift_alpha}).",
            details,
        )
    return Check(check, name, value, limit, PASS, f"{text}.", details)


# --- categorical and boolean columns --------------------------------------------------------------


def _shares(stats: Mapping[str, Any]) -> tuple[dict[str, float], bool]:
    """value -> share of the non-missing values, and whether the listed values are all there are."""
    count = float(stats.get("count") or 0)
    top = stats.get("top") or []
    if count <= 0:
        return {}, True
    shares = {str(item["value"]): float(item["count"]) / count for item in top}
    complete = int(stats.get("cardinality") or 0) <= len(top)
    return shares, complete


def _categorical_checks(
    name: str, cur: Mapping[str, Any], ref: Mapping[str, Any], thresholds: DataThresholds
) -> list[Check]:
    cur_shares, _ = _shares(cur)
    ref_shares, _ = _shares(ref)
    if not cur_shares or not ref_shares:
        side = "new data" if not cur_shares else "reference"
        return _skipped(name, (UNSEEN, PSI), f"the {side} has no values in column {name!r}")
    checks = [_unseen(name, cur, ref, thresholds)]
    counts = (int(cur.get("count") or 0), int(ref.get("count") or 0))
    if min(counts) < thresholds.drift_min_count:
        return [*checks, *_skipped(name, (PSI,), _too_few(counts, thresholds))]
    values = list(ref_shares)
    ref_bins = [ref_shares[value] for value in values]
    cur_bins = [cur_shares.get(value, 0.0) for value in values]
    rest = (max(0.0, 1.0 - sum(cur_bins)), max(0.0, 1.0 - sum(ref_bins)))  # rarer and new values
    if max(rest) > 0:
        cur_bins.append(rest[0])
        ref_bins.append(rest[1])
    tvd = 0.5 * sum(abs(c - r) for c, r in zip(cur_bins, ref_bins, strict=True))
    moved = max(values, key=lambda value: abs(cur_shares.get(value, 0.0) - ref_shares[value]))
    psi = stats.psi(cur_bins, ref_bins)
    p_value = stats.homogeneity_p_value(cur_bins, ref_bins, counts)
    text = (
        f"PSI {psi:.3f} over the reference category frequencies (total variation distance {tvd:.3f}; "
        f"largest move {moved!r}: {cur_shares.get(moved, 0.0):.1%} vs {ref_shares[moved]:.1%})"
    )
    checks.append(
        _drift(
            PSI,
            name,
            value=psi,
            limit=thresholds.psi,
            p_value=p_value,
            thresholds=thresholds,
            text=text,
            effect={"tvd": tvd},
        )
    )
    return checks


def _unseen(name: str, cur: Mapping[str, Any], ref: Mapping[str, Any], thresholds: DataThresholds) -> Check:
    """Share of new values in categories the reference never had (known only when it lists them all)."""
    (cur_shares, cur_complete), (ref_shares, ref_complete) = _shares(cur), _shares(ref)
    limit = thresholds.unseen_category_share
    if not ref_complete:
        return Check(
            UNSEEN,
            name,
            None,
            limit,
            SKIP,
            f"Not computed: the reference lists only {len(ref_shares)} of its "
            f"{ref.get('cardinality')} categories.",
        )
    unseen = {value: share for value, share in cur_shares.items() if value not in ref_shares}
    share = sum(unseen.values())
    examples = ", ".join(repr(value) for value in sorted(unseen, key=unseen.__getitem__, reverse=True)[:5])
    tail = (
        "" if cur_complete else f" (at least; {cur.get('other_frequency', 0):.1%} of values are not listed)"
    )
    details = {"unseen": sorted(unseen)[:50]}
    if share > limit:
        return Check(
            UNSEEN,
            name,
            share,
            limit,
            FAIL,
            f"Column {name!r}: {share:.1%} of values are categories the reference never had{tail}: "
            f"{examples}; more than {limit:.1%}.",
            details,
        )
    text = f"{share:.1%} unseen ({examples})" if unseen else "No unseen categories"
    return Check(UNSEEN, name, share, limit, PASS, f"{text}{tail}.", details)
