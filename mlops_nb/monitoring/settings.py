"""Monitoring thresholds: the ``monitoring:`` section of a pipeline file, with the defaults the README states.

::

    monitoring:
      psi: 0.2                 # PSI above which a significant shift is drift
      wasserstein: 0.1         # Wasserstein distance / reference std above which a significant shift is drift
      cramers_v: 0.1           # Cramér's V above which a significant categorical shift is drift
      alpha: 0.01              # significance level of KS and chi-square
      min_per_bin: 5           # rows per bin needed: the minimum sample is min_per_bin x bins
      decay_confidence: 0.95   # confidence of the live metric's interval
      decay_threshold: null    # the live metric's floor (ceiling when lower is better); default: the
                               # gates.model threshold of model.metric, else evaluation value -/+ decay_tolerance
      decay_tolerance: 0.05
      decay_min_labels: 30     # fewer labelled rows: insufficient data
      max_ood_rate: 0.05       # health: out-of-domain rows above this share is drift
      max_error_rate: 0.01     # health: failed requests above this share is flagged
      buckets: 12              # time buckets of the "over time" views (at most 1000)
      cooldown: 6h             # a trigger is raised at most once per cooldown per pipeline and kind
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_nb.exceptions import ConfigError
from mlops_nb.named_settings import settings_from_dict


@dataclass(frozen=True)
class Thresholds:
    """Limits of a monitoring pass (see the module docstring for each)."""

    psi: float = 0.2
    wasserstein: float = 0.1
    cramers_v: float = 0.1
    alpha: float = 0.01
    min_per_bin: int = 5
    decay_confidence: float = 0.95
    decay_threshold: float | None = None
    decay_tolerance: float = 0.05
    decay_min_labels: int = 30
    max_ood_rate: float = 0.05
    max_error_rate: float = 0.01
    buckets: int = 12
    cooldown: str = "6h"

    @property
    def cooldown_seconds(self) -> int:
        """The cooldown in seconds."""
        from mlops_nb.scheduling.triggers import parse_duration

        return parse_duration(self.cooldown)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, *, where: str = "monitoring") -> Thresholds:
        """Thresholds from a pipeline file's `monitoring:` mapping; a ConfigError names the bad key."""
        made = settings_from_dict(cls, values, where=where, kind="monitoring", check=_check)
        made.cooldown_seconds  # noqa: B018 - a bad duration fails here, at load time
        return made


MAX_BUCKETS = 1000  # each feature keeps buckets x bins counts, and the report draws every bucket
_INTEGERS = {"min_per_bin", "decay_min_labels", "buckets"}
_SHARES = {"alpha", "decay_confidence", "max_ood_rate", "max_error_rate"}


def _check(key: str, value: Any, where: str) -> Any:
    if key == "cooldown":
        if not isinstance(value, str):
            raise ConfigError(f"`{where}` must be a duration such as 6h, not {value!r}.")
        from mlops_nb.scheduling.triggers import parse_duration

        try:
            parse_duration(value)
        except Exception as exc:
            raise ConfigError(f"`{where}`: {exc}") from None
        return value
    if key == "decay_threshold" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"`{where}` must be a number, not {value!r}.")
    if key in _INTEGERS:
        if int(value) != value or value < 1:
            raise ConfigError(f"`{where}` must be a whole number of at least 1, not {value!r}.")
        if key == "buckets" and value > MAX_BUCKETS:
            raise ConfigError(f"`{where}` must be at most {MAX_BUCKETS}, not {value!r}.")
        return int(value)
    if key in _SHARES and not 0 < value < 1:
        raise ConfigError(f"`{where}` must lie between 0 and 1, not {value!r}.")
    if key != "decay_threshold" and value < 0:
        raise ConfigError(f"`{where}` must be 0 or more, not {value!r}.")
    return float(value)
