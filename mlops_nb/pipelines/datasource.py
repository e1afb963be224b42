"""A pipeline's data source: a file or glob (``data.source``), or a registered dataset (``data.dataset``).

``data: {dataset: iris, version: latest}`` reads a version of a dataset of the repository (mlops_nb.datasets);
``version`` is ``latest`` (the default: the newest version when the run starts) or a number.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_nb.exceptions import ConfigError

KEYS = {"source", "dataset", "version", "format", "watermark"}  # of `data` (plus test_split at the top)
DATASET_PREFIX = "dataset:"


@dataclass(frozen=True)
class DataSource:
    """Where a pipeline reads its data."""

    source: str  # absolute path or glob; ``dataset:NAME`` for a dataset
    format: str = "auto"  # auto | csv | parquet
    watermark: str | None = None
    dataset: str | None = None  # a dataset of the repository instead of files
    version: int | None = None  # its version (None: the latest)

    def files(self) -> list[Path]:
        """The files the source names, sorted; ConfigError when there are none."""
        if not self.source:
            raise ConfigError(
                "This pipeline has no data source outside its environments.",
                hint="Pass --env ENV, or set `data.source` at the top level of the pipeline file.",
            )
        matches = (
            sorted(Path(p) for p in glob.glob(self.source))
            if glob.has_magic(self.source)
            else [Path(self.source)]
        )
        files = [p for p in matches if p.is_file()]
        if not files:
            raise ConfigError(
                f"Data source {self.source} matches no file.",
                hint="Fix `data.source` or the environment's data source.",
            )
        return files


def resolve(base: Path, value: str) -> str:
    """`value` as an absolute path (relative ones against `base`)."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def has_source(data: Any) -> bool:
    """Whether a raw `data` mapping names a source (a file/glob or a dataset)."""
    return isinstance(data, dict) and bool(data.get("source") or data.get("dataset"))


def parse(r: Any, data: Mapping[str, Any], key: tuple[str, ...], base: Path, required: bool) -> DataSource:
    """The data source under `key` of a pipeline file (`r`: spec's reader, whose errors name the line)."""
    fmt = r.value(data, (*key, "format"), (str,), default="auto", choices=("auto", "csv", "parquet"))
    watermark = r.value(data, (*key, "watermark"), (str,))
    dataset = r.value(data, (*key, "dataset"), (str,))
    if dataset is None:
        if "version" in data:
            raise r.fail((*key, "version"), "goes with `dataset`", "Name the dataset: `dataset: NAME`.")
        source = r.value(data, (*key, "source"), (str,), required=required)
        return DataSource(resolve(base, source) if source else "", fmt, watermark)
    if data.get("source"):
        raise r.fail((*key, "dataset"), "and `source` are both given", "Keep one of them.")
    version = r.value(data, (*key, "version"), (str, int), default="latest")
    if version != "latest" and (isinstance(version, str) or version < 1):
        raise r.fail((*key, "version"), f"must be latest or 1, 2, ..., not {version!r}", "E.g. `version: 2`.")
    number = None if version == "latest" else version
    return DataSource(f"{DATASET_PREFIX}{dataset}", fmt, watermark, dataset, number)
