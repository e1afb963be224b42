"""Reading a YAML configuration file with errors that name the file, the key and its line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlops_nb.exceptions import ConfigError


class Reader:
    """Typed access to the loaded YAML with errors that name the key and its line."""

    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self.lines = lines

    def fail(self, key: tuple[str, ...], message: str, hint: str) -> ConfigError:
        """The error for `key` (placed at its line): `message`, with `hint` saying what to do."""
        line = self.lines.get(key) or self.lines.get(key[:-1]) or 1
        return ConfigError(f"{self.path}:{line}: `{'.'.join(key)}` {message}.", hint=hint)

    def mapping(self, data: Any, key: tuple[str, ...], known: set[str] | None = None) -> dict[str, Any]:
        """`data` as a mapping (None: empty) whose keys are all in `known` (when given)."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self.fail(
                key, f"must be a mapping, not {type(data).__name__}", "Write it as `key: value` lines."
            )
        if known is not None:
            for name in data:
                if name not in known:
                    raise self.fail(
                        (*key, str(name)),
                        "is not a known key",
                        f"Known keys here: {', '.join(sorted(known))}.",
                    )
        return data

    def value(
        self,
        data: Mapping[str, Any],
        key: tuple[str, ...],
        kinds: tuple[type, ...],
        *,
        required: bool = False,
        default: Any = None,
        choices: tuple[Any, ...] = (),
    ) -> Any:
        """`data[key[-1]]` checked against `kinds` (an int is taken as a float) and `choices`."""
        name = key[-1]
        if name not in data or data[name] is None:
            if required:
                where = f"under `{key[-2]}:`" if len(key) > 1 else "to the pipeline file"
                raise self.fail(key, "is required", f"Add `{name}:` {where}.")
            return default
        value = data[name]
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(k.__name__ for k in kinds)
            raise self.fail(
                key, f"must be {expected}, not {type(value).__name__} ({value!r})", f"Give a {expected}."
            )
        if choices and value not in choices:
            raise self.fail(
                key, f"must be one of {list(choices)}, not {value!r}", "Pick one of the listed values."
            )
        return value


def line_map(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], file: Path) -> None:
    """Fill `lines` with the line of every key under `node`; a key given twice is a ConfigError."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            sub = (*path, str(key.value))
            if sub[-1] in seen:
                raise ConfigError(
                    f"{file}:{key.start_mark.line + 1}: `{'.'.join(sub)}` is given twice "
                    f"(first on line {lines[sub]}).",
                    hint="Keep one of them: YAML would silently use the last.",
                )
            seen.add(sub[-1])
            lines[sub] = key.start_mark.line + 1
            line_map(value, sub, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            line_map(item, (*path, str(index)), lines, file)
