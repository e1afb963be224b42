"""Ingestion: read a pipeline's data source, keep only new rows, hold out the test split.

The pipeline, not the notebook, holds out the test split: ingestion splits the rows it read with
the pipeline file's seed (stratified on the target for classification) and writes two Parquet
files. The notebook receives only the training part (parameter ``data_path``) and may split it
further for its own validation; evaluation scores the logged model on the held-out part, which the
notebook never saw. Every point of a sweep therefore gets the same test rows, so their metrics compare.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb.exceptions import ConfigError, UnsupportedDataError
from mlops_nb.pipelines.spec import DataSource, TestSplit

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Ingested:
    """What ingestion produced."""

    data: pd.DataFrame
    train_path: Path
    test_path: Path
    files: list[Path]
    rows_read: int
    watermark: Any  # the new maximum of the watermark column (None without one)
    digest: str
    dataset: Any = None  # the mlops_nb.datasets.DatasetVersion read, for a `data.dataset` source


def _read(path: Path, fmt: str) -> pd.DataFrame:
    import pandas as pd

    kind = fmt if fmt != "auto" else ("parquet" if path.suffix.lower() in {".parquet", ".pq"} else "csv")
    try:
        return pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)
    except Exception as exc:
        raise UnsupportedDataError(
            f"Could not read {path} as {kind}: {exc}.", hint="Set `data.format` or fix the file."
        ) from exc


def digest(frame: pd.DataFrame) -> str:
    """A 32-hex full-content fingerprint of a table (every value, the column names and dtypes)."""
    import pandas as pd
    import xxhash

    h = xxhash.xxh3_128()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def read(source: DataSource, *, after: Any = None) -> tuple[pd.DataFrame, list[Path], int]:
    """All rows of the source's files; with a watermark column, only rows strictly after `after`."""
    import pandas as pd

    if source.dataset:  # a version of a registered dataset
        from mlops_nb import datasets

        version = datasets.get(source.dataset, source.version)
        frame, files = datasets.frame(version), [version.snapshot or Path(version.source)]
    else:
        files = source.files()
        frame = pd.concat([_read(path, source.format) for path in files], ignore_index=True)
    rows_read = len(frame)
    if source.watermark:
        if source.watermark not in frame.columns:
            raise ConfigError(
                f"Watermark column {source.watermark!r} is not in {source.source}.",
                hint=f"Columns: {', '.join(map(str, frame.columns))}; fix `data.watermark`.",
            )
        if after is not None:
            column = frame[source.watermark]
            bound = (
                pd.to_datetime(after)
                if pd.api.types.is_datetime64_any_dtype(column)
                else type_like(column, after)
            )
            frame = frame[column > bound].reset_index(drop=True)
    return frame, files, rows_read


def type_like(column: pd.Series, value: Any) -> Any:
    """`value` (a watermark read back from a tag, i.e. a string) in the type of `column`."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        return float(value)
    return str(value)


def ingest(source: DataSource, split: TestSplit, target: str, folder: Path, *, after: Any = None) -> Ingested:
    """Read the source, filter by watermark, split off the test rows and write both parts to `folder`."""
    from sklearn.model_selection import train_test_split

    version = None
    if source.dataset:  # pinned, so that what is read is the version recorded
        from mlops_nb import datasets

        version = datasets.get(source.dataset, source.version)
        source = replace(source, version=version.version)
    frame, files, rows_read = read(source, after=after)
    if frame.empty:
        raise UnsupportedDataError(
            f"No rows to train on from {source.source}"
            + (f" after watermark {source.watermark}={after}" if after is not None else "")
            + ".",
            hint="Wait for new data, or run with a data source that has rows.",
        )
    if target not in frame.columns:
        raise ConfigError(
            f"Target column {target!r} (evaluation.target) is not in the data.",
            hint=f"Columns: {', '.join(map(str, frame.columns))}.",
        )
    stratify = None
    if split.stratify:
        if split.stratify not in frame.columns:
            raise ConfigError(
                f"Stratify column {split.stratify!r} (data.test_split.stratify) is not in the data."
            )
        counts = frame[split.stratify].value_counts()
        stratify = frame[split.stratify] if len(counts) > 1 and counts.min() >= 2 else None
    train, test = train_test_split(
        frame, test_size=split.fraction, random_state=split.seed, stratify=stratify
    )
    folder.mkdir(parents=True, exist_ok=True)
    train_path, test_path = folder / "train.parquet", folder / "test.parquet"
    train.reset_index(drop=True).to_parquet(train_path, index=False)
    test.reset_index(drop=True).to_parquet(test_path, index=False)
    watermark = frame[source.watermark].max() if source.watermark else None
    return Ingested(frame, train_path, test_path, files, rows_read, watermark, digest(frame), version)
