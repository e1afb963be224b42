"""The data a pipeline run trained on, brought back for its reproduction.

By preference: the dataset version its lineage names (``mlops_nb.datasets``), else the train and test rows its
ingestion kept as artifacts (a snapshot), else its source read again and checked against the recorded digest. A
source that changed since is refused, saying how (rows added, removed, changed; columns), unless allowed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.exceptions import ConfigError, NotFoundError, ReproductionRefusedError, UsageError
from mlops_nb.pipelines import data_change
from mlops_nb.pipelines import source as source_mod
from mlops_nb.pipelines.spec import DataSource

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_nb.pipelines.lineage_record import Record

MODES = records.REPRODUCE_DATA_MODES


@dataclass(frozen=True)
class DataSnapshot:
    """Train and test rows kept by an earlier ingestion, which a pipeline run ingests instead of its source."""

    train: Path
    test: Path
    digest: str  # the recorded fingerprint of these rows, as that ingestion read them from its source
    source: str  # where they were kept, e.g. ``runs:/<ingestion run>/data``
    watermark: str | None = None  # the recorded maximum of the watermark column
    watermark_after: str | None = None

    def ingest(self, folder: Path) -> source_mod.Ingested:
        """The snapshot as ingestion's result: the same train and test files, untouched."""
        import pandas as pd

        folder.mkdir(parents=True, exist_ok=True)
        train, test = folder / "train.parquet", folder / "test.parquet"
        shutil.copyfile(self.train, train)
        shutil.copyfile(self.test, test)
        frame = pd.concat([pd.read_parquet(train), pd.read_parquet(test)], ignore_index=True)
        return source_mod.Ingested(
            frame, train, test, [self.train, self.test], len(frame), self.watermark, self.digest
        )


@dataclass(frozen=True)
class RestoredData:
    """Where a reproduction's data comes from, and how its source differs from the record."""

    kind: str  # dataset | snapshot | source
    origin: str  # shown to the user and tagged on the reproduction run
    source: DataSource | None = None  # the pipeline's data source to use (dataset, source)
    snapshot: DataSnapshot | None = None
    watermark_after: str | None = None  # the ingestion's lower watermark bound (None: no filter)
    change: data_change.DataChange | None = None  # the source's change since the record (None: none seen)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "origin": self.origin,
            "change": self.change.to_dict() if self.change else None,
        }


def restore(
    record: Record, data: DataSource, folder: Path, client: MlflowClient, *, mode: str, allow_change: bool
) -> RestoredData:
    """The data of `record`'s pipeline run (`data`: its pipeline file's source), kept under `folder`.

    `mode` is one of MODES (auto: dataset version, else snapshot, else source). ReproductionRefusedError when
    the source no longer gives the recorded rows and `allow_change` is False.
    """
    if mode not in MODES:
        raise UsageError(f"Unknown data mode {mode!r}.", hint=f"Use one of {', '.join(MODES)}.")
    folder.mkdir(parents=True, exist_ok=True)
    if mode == "dataset" or (mode == "auto" and record.dataset and _datasets_module() is not None):
        try:
            return _from_dataset(record, data, folder)
        except NotFoundError:  # the version or its snapshot is gone (pruned): auto goes on to the kept rows
            snapshot = _snapshot(record, folder, client) if mode == "auto" else None
            if snapshot is None:
                raise
            return RestoredData("snapshot", f"snapshot {snapshot.source}", snapshot=snapshot)
    if mode in ("auto", "snapshot"):
        snapshot = _snapshot(record, folder, client)
        if snapshot is not None:
            return RestoredData("snapshot", f"snapshot {snapshot.source}", snapshot=snapshot)
        if mode == "snapshot":
            raise NotFoundError(
                f"Pipeline run {record.pipeline_run_id} kept no ingested data (artifacts "
                f"{records.ARTIFACT_INGESTED_DIR}/ of its ingestion step).",
                hint="Reproduce from the source (--data source), or from a dataset version if it read one.",
            )
    return _from_source(record, data, folder, client, allow_change=allow_change)


def _datasets_module() -> Any:
    try:
        from mlops_nb import datasets
    except ImportError:
        return None
    return datasets


def _from_dataset(record: Record, data: DataSource, folder: Path) -> RestoredData:
    if record.dataset is None:
        raise UsageError(
            f"Pipeline run {record.pipeline_run_id} read no dataset version.",
            hint="Reproduce from its snapshot (--data snapshot) or its source (--data source).",
        )
    name, version = record.dataset
    datasets = _datasets_module()
    if datasets is None:
        raise ConfigError(
            f"Pipeline run {record.pipeline_run_id} read dataset {name} version {version}, but this installation "
            "has no dataset repository (mlops_nb.datasets).",
            hint="Upgrade mlops_nb, or reproduce from the run's ingested snapshot with --data snapshot.",
        )
    found = datasets.get(name, version, deleted=True)  # a deleted record's snapshot is kept for this
    path = datasets.materialize(found, folder / f"{name}-v{version}.parquet")
    source = DataSource(str(path), "parquet", data.watermark)
    return RestoredData(
        "dataset", f"dataset {name}@{version}", source, watermark_after=record.watermark_after
    )


def _snapshot(record: Record, folder: Path, client: MlflowClient) -> DataSnapshot | None:
    """The ingested train and test rows of the record's ingestion step, or None when it kept none."""
    if not record.ingestion_run_id:
        return None
    try:
        local = Path(
            client.download_artifacts(record.ingestion_run_id, records.ARTIFACT_INGESTED_DIR, str(folder))
        )
    except Exception:  # deleted artifacts or a run from before ingestion kept them: no snapshot
        return None
    train, test = local / "train.parquet", local / "test.parquet"
    if not (train.is_file() and test.is_file()):
        return None
    return DataSnapshot(
        train,
        test,
        record.data_digest or "",
        f"runs:/{record.ingestion_run_id}/{records.ARTIFACT_INGESTED_DIR}",
        record.watermark,
        record.watermark_after,
    )


def _from_source(
    record: Record, data: DataSource, folder: Path, client: MlflowClient, *, allow_change: bool
) -> RestoredData:
    """The recorded source as it is now: the rows the record read (by its watermark bounds), digest checked."""
    if not record.data_source:
        raise NotFoundError(
            f"Pipeline run {record.pipeline_run_id} recorded no data source.",
            hint="Reproduce from its snapshot (--data snapshot).",
        )
    source = replace(data, source=record.data_source)
    frame, _, _ = source_mod.read(source, after=record.watermark_after)
    if source.watermark and record.watermark is not None:  # rows that came after the record are not its rows
        frame = frame[frame[source.watermark] <= _bound(frame[source.watermark], record.watermark)]
        frame = frame.reset_index(drop=True)
    change = None
    if source_mod.digest(frame) != record.data_digest:
        change = _change(record, frame, folder, client)
        if not allow_change:
            raise ReproductionRefusedError(
                f"The data source {record.data_source} changed since pipeline run {record.pipeline_run_id} "
                f"read it: {change.describe()}.",
                hint="Reproduce from the rows the run kept (the default, or --data snapshot), or pass "
                "--allow-data-change to run on the data as it is now.",
            )
    after = record.watermark_after
    if source.watermark:  # the rows are chosen here: the pipeline ingests exactly them
        path = folder / "source.parquet"
        frame.to_parquet(path, index=False)
        source, after = DataSource(str(path), "parquet", source.watermark), None
    return RestoredData(
        "source", f"source {record.data_source}", source, watermark_after=after, change=change
    )


def _bound(column: pd.Series, value: str) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(value)
    return source_mod.type_like(column, value)


def _change(record: Record, now: pd.DataFrame, folder: Path, client: MlflowClient) -> data_change.DataChange:
    """How the source differs from the rows the record kept (only the row counts without a snapshot)."""
    import pandas as pd

    snapshot = _snapshot(record, folder / "recorded", client)
    if snapshot is None:
        rows = int(record.data_rows) if record.data_rows else 0
        return data_change.DataChange(rows_before=rows, rows_now=len(now))
    before = pd.concat([pd.read_parquet(snapshot.train), pd.read_parquet(snapshot.test)], ignore_index=True)
    return data_change.compare(before, now)
