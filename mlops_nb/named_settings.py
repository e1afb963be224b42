"""A block of named settings in a pipeline file (`gates.data:`, `monitoring:`) read into a frozen dataclass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from mlops_nb.exceptions import ConfigError

T = TypeVar("T")


def settings_from_dict(
    cls: type[T],
    values: Mapping[str, Any] | None,
    *,
    where: str,
    kind: str,
    check: Callable[[str, Any, str], Any],
) -> T:
    """`cls` with the settings in `values` (its defaults for the rest; all of them for None).

    Each value passes through `check(key, value, "where.key")`, which returns it parsed or raises a ConfigError;
    an unknown key is a ConfigError naming `where.key`, the `kind` of setting and the known ones.
    """
    if values is None:
        return cls()
    if not isinstance(values, Mapping):
        raise ConfigError(f"`{where}` must be a mapping of threshold names to values.")
    known = [item.name for item in fields(cls)]
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"Unknown {kind} setting `{where}.{key}`.", hint=f"Known settings: {', '.join(known)}."
            )
        parsed[key] = check(key, value, f"{where}.{key}")
    return cls(**parsed)
