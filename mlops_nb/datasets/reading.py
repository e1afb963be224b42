"""Reading a dataset version: as a DataFrame (recorded as the input of a tracked run) or as a file."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_nb import records
from mlops_nb.datasets import dvc
from mlops_nb.datasets.repository import DatasetVersion, get
from mlops_nb.exceptions import NotFoundError
from mlops_nb.pipelines.datasource import DATASET_PREFIX

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import DatasetInput

    from mlops_nb.store import Writer

_PARQUET = {".parquet", ".pq"}


def frame(dv: DatasetVersion) -> pd.DataFrame:
    """The rows of `dv`: from its snapshot, or restored through DVC."""
    import pandas as pd

    if dv.dvc:
        with tempfile.TemporaryDirectory() as scratch:
            restored = dvc.restore(dv.dvc, Path(scratch) / Path(dv.dvc["path"]).name)
            parquet = restored.suffix.lower() in _PARQUET
            return pd.read_parquet(restored) if parquet else pd.read_csv(restored)
    if dv.snapshot is None or not dv.snapshot.is_file():
        raise NotFoundError(
            f"The snapshot of dataset {dv.ref} ({dv.snapshot}) is missing.",
            hint="`mlops-nb data prune` deleted it (nothing registered needed it), or it was deleted by hand; "
            "add the data again with `mlops-nb data add`.",
        )
    return pd.read_parquet(dv.snapshot)


def materialize(dv: DatasetVersion, path: str | Path) -> Path:
    """Write the rows of `dv` to `path` (Parquet for ``.parquet``/``.pq``, else CSV); via DVC when DVC keeps it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parquet = path.suffix.lower() in _PARQUET
    if dv.dvc and (Path(dv.dvc["path"]).suffix.lower() in _PARQUET) == parquet:
        return dvc.restore(dv.dvc, path)  # the same bytes, same format
    if dv.snapshot is not None and parquet and dv.snapshot.is_file():
        shutil.copyfile(dv.snapshot, path)
        return path
    rows = frame(dv)
    if parquet:
        rows.to_parquet(path, index=False)
    else:
        rows.to_csv(path, index=False)
    return path


def lineage_tags(dv: DatasetVersion) -> dict[str, str]:
    """The tags that name the dataset version a run read."""
    return {records.TAG_DATASET_NAME: dv.name, records.TAG_DATASET_VERSION: str(dv.version)}


def dataset_input(dv: DatasetVersion, rows: pd.DataFrame | None = None) -> DatasetInput:
    """The MLflow dataset input of `dv`: its name, digest (the version's), source and schema."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from mlops_nb.capture import profile as capture_profile

    source = {"uri": f"{DATASET_PREFIX}{dv.ref}", "dataset": dv.name, "version": dv.version}
    if dv.dvc:
        source["dvc"] = dv.dvc
    dataset = Dataset(
        name=dv.name,
        digest=dv.digest,
        source_type="local",
        source=json.dumps(source),
        schema=json.dumps(capture_profile.mlflow_schema(rows)) if rows is not None else None,
        profile=json.dumps({"num_rows": dv.rows, "num_columns": len(dv.columns)}),
    )
    tags = [
        InputTag(records.INPUT_CONTEXT, records.DATASET_INPUT_CONTEXT),
        InputTag(records.TAG_DATASET_VERSION, str(dv.version)),
    ]
    return DatasetInput(dataset, tags)


def record(gateway: Writer, run_id: str, dv: DatasetVersion, rows: pd.DataFrame | None = None) -> None:
    """Record on run `run_id` that it read `dv`: the lineage tags and the dataset input."""
    gateway.set_tags(run_id, lineage_tags(dv))
    gateway.log_inputs(run_id, [dataset_input(dv, rows)])


def load(name: str, version: int | None = None) -> pd.DataFrame:
    """The rows of dataset `name` at `version` (None: the latest) as a DataFrame.

    Inside a tracked session (``%mlops track``) the run records the dataset and version as its input: the
    tags ``mlops_nb.dataset.name`` / ``mlops_nb.dataset.version`` (the last load wins) and an MLflow dataset
    input whose digest is the version's.

    Raises
    ------
    NotFoundError: no such dataset or version, or its data is gone (snapshot deleted, DVC cannot restore it).
    """
    from mlops_nb.capture import session

    dv = get(name, version)
    rows = frame(dv)
    current = session._active
    if current is not None and not current.ended:
        record(current.gateway, current.run_id, dv, rows)
    return rows
