"""The data gate's vocabulary: its check names, its thresholds (the `gates.data` block of a pipeline file),
one check's outcome and the report that holds them (the checks themselves: gates/data.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_nb.exceptions import ConfigError
from mlops_nb.gates.report import FAIL, json_safe, table
from mlops_nb.named_settings import settings_from_dict

# Check names, as they appear in reports.
ROWS = "rows"
MISSING_COLUMN = "missing_column"
NEW_COLUMN = "new_column"
TYPE = "type"
MISSING_RATE = "missing_rate"
RANGE = "range"
UNSEEN = "unseen_categories"
PSI = "psi"
KS = "ks"


@dataclass(frozen=True)
class DataThresholds:
    """Limits of the data gate (the `gates.data` block of a pipeline file).

    psi, ks: drift per column above which the gate fails (PSI; KS statistic D, not a p-value).
    missing_rate_delta: largest allowed change of a column's missing-value rate (absolute, either way).
    unseen_category_share: largest share of a column's values that the reference never saw.
    range_tolerance: margin added on both sides of the reference [min, max], as a share of its width.
    out_of_range_share: largest share of a column's values allowed outside that widened range.
    drift_alpha: drift and range checks fail only when also significant at this level (chi-square test
        on the PSI bins, KS test, chance of that many new extremes), so that small batches are not
        failed for sampling noise.
    min_rows: fewest rows the new data may have.
    drift_min_count: fewest non-missing values (on each side) for PSI and KS to be computed.
    strict_dtypes: also fail on a dtype change within the same kind (int64 -> float64).
    ignore_columns: columns left out of every check (ids, timestamps that always move).
    """

    psi: float = 0.2
    ks: float = 0.2
    missing_rate_delta: float = 0.05
    unseen_category_share: float = 0.01
    range_tolerance: float = 0.1
    out_of_range_share: float = 0.01
    drift_alpha: float = 0.01
    min_rows: int = 1
    drift_min_count: int = 30
    strict_dtypes: bool = False
    ignore_columns: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, *, where: str = "gates.data") -> DataThresholds:
        """Thresholds from a pipeline file's mapping; a ConfigError names the bad key `where.<key>`."""
        return settings_from_dict(cls, values, where=where, kind="data gate", check=_setting)


def _setting(key: str, value: Any, where: str) -> Any:
    default = DataThresholds.__dataclass_fields__[key].default
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"`{where}` must be true or false, not {value!r}.")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"`{where}` must be a list of column names, not {value!r}.")
        return tuple(str(item) for item in value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"`{where}` must be a number >= 0, not {value!r}.")
    if isinstance(default, int) and value != int(value):
        raise ConfigError(f"`{where}` must be a whole number, not {value!r}.")
    return type(default)(value)


@dataclass(frozen=True)
class Check:
    """One check of one column (`column` is None for the whole dataset)."""

    check: str
    column: str | None
    value: float | int | str | None
    threshold: float | int | str | None
    verdict: str  # PASS | FAIL | SKIP
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataReport:
    """The data gate's outcome: every check made, with its verdict and a message saying why."""

    checks: list[Check]
    thresholds: DataThresholds
    reference: dict[str, Any]
    current: dict[str, Any]

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not block)."""
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        """The failed checks, in report order."""
        return [check for check in self.checks if check.verdict == FAIL]

    def summary(self) -> str:
        """One line: passed, or which checks failed."""
        what = f"{_describe(self.current)} against {_describe(self.reference)}"
        if self.passed:
            return f"Data validation passed: {len(self.checks)} checks of {what}."
        failed = " ".join(check.message for check in self.failures[:5])
        more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        count = f"{len(self.failures)} of {len(self.checks)} checks"
        return f"Data validation failed: {count} of {what}. {failed}{more}"

    def to_dict(self) -> dict[str, Any]:
        """The report as strict JSON-ready data (the gate's artifact)."""
        thresholds = asdict(self.thresholds)
        thresholds["ignore_columns"] = list(self.thresholds.ignore_columns)
        return json_safe(
            {
                "gate": "data",
                "passed": self.passed,
                "summary": self.summary(),
                "reference": self.reference,
                "current": self.current,
                "thresholds": thresholds,
                "checks": [asdict(check) for check in self.checks],
            }
        )

    def to_table(self, *, failures_only: bool = False) -> str:
        """A readable table (verdict, column, check, value, threshold, message) under the summary."""
        shown = self.failures if failures_only else self.checks
        rows = [
            (
                check.verdict.upper(),
                check.column or "(dataset)",
                check.check,
                check.value,
                check.threshold,
                check.message,
            )
            for check in shown
        ]
        return (
            self.summary()
            + "\n"
            + table(("verdict", "column", "check", "value", "threshold", "message"), rows)
        )


def _describe(profile: Mapping[str, Any]) -> str:
    name = profile.get("name") or "data"
    digest = profile.get("digest")
    return f"{name!r} ({profile.get('num_rows')} rows{', ' + str(digest)[:8] if digest else ''})"
