"""Named, versioned datasets: content-addressed Parquet snapshots beside the artifacts, one MLflow run per version.

Where things live:

- Snapshots: ``<datasets>/snapshots/<digest[:2]>/<digest>.parquet``, where ``<datasets>`` is the folder beside
  the artifact root (``.mlops/datasets`` by default) or, when the artifact root is not a local folder,
  ``<project>/.mlops/datasets``. A snapshot is named by the capture fingerprint of its rows, so the same content
  is stored once; it is written to a temporary file and renamed, so a reader never sees half a file.
- Version records: one run per version in the MLflow experiment ``mlops-nb-datasets`` (the
  ``records.TAG_DATASET_*`` tags; the schema and statistics as the artifact ``dataset/profile.json``), so they
  live in whichever store the project uses and show in the MLflow UI. A version number is claimed under a
  file lock in the datasets folder (which also guards prune), so two processes adding at once get 1 and 2.
- A DVC-tracked source keeps no snapshot: its version records the DVC hash and git revision (see dvc.py).
"""

from __future__ import annotations

import contextlib
import glob
import json
import numbers
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import config, records, store
from mlops_nb.exceptions import NotFoundError, UnsupportedDataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_PAGE = 1000


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a named dataset."""

    name: str
    version: int
    digest: str  # capture fingerprint of the rows
    rows: int
    columns: list[str]
    source: str
    created: str  # ISO 8601 UTC
    author: str
    key: list[str]
    description: str | None
    snapshot: Path | None  # the Parquet snapshot (None when the data is kept by DVC)
    dvc: dict | None  # {"repo", "path", "md5", "rev"} when the source is DVC-tracked
    run_id: str = ""  # the version's record in the experiment mlops-nb-datasets

    @property
    def ref(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "snapshot": str(self.snapshot) if self.snapshot else None}


def check_name(name: str) -> str:
    """`name` when it can name a dataset (letters, digits, ``_.-``), else UsageError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a dataset name.", hint="Use letters, digits, '_', '.', '-' (up to 100)."
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@VERSION`` (VERSION a number or ``latest``) as (name, version or None)."""
    name, _, version = ref.partition("@")
    check_name(name)
    if version in ("", "latest"):
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise UsageError(f"{ref!r}: the version must be 1, 2, ... or latest.", hint="E.g. iris@2.")
    return name, int(version)


def folder(settings: config.Settings | None = None) -> Path:
    """The dataset store: beside a local artifact root, else in the project's `.mlops/`."""
    settings = settings or config.current()
    root = settings.artifact_root
    if "://" not in root or root.startswith("file://"):
        return Path(root.removeprefix("file://")).parent / "datasets"
    return settings.state_dir / "datasets"


def snapshot_path(digest: str, settings: config.Settings | None = None) -> Path:
    """Where the snapshot of content `digest` lives."""
    return folder(settings) / "snapshots" / digest[:2] / f"{digest}.parquet"


def lock(settings: config.Settings | None = None) -> contextlib.AbstractContextManager[None]:
    """The lock held while a version is claimed and while snapshots are pruned."""
    return store.file_lock(folder(settings) / ".lock")


def read_source(source: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """The rows of a CSV or Parquet file, or of every file a glob matches (in name order)."""
    import pandas as pd

    text = str(Path(source).expanduser())
    files = sorted(Path(p) for p in glob.glob(text)) if glob.has_magic(text) else [Path(text)]
    files = [p.resolve() for p in files if p.is_file()]
    if not files:
        raise NotFoundError(f"{source} matches no file.", hint="Give a CSV or Parquet file, or a glob.")
    frames = []
    for path in files:
        try:
            parquet = path.suffix.lower() in {".parquet", ".pq"}
            rows = pd.read_parquet(path) if parquet else pd.read_csv(path)
        except Exception as exc:
            raise UnsupportedDataError(
                f"Could not read {path}: {exc}.", hint="Datasets are added from CSV or Parquet files."
            ) from exc
        if any(level is not None for level in rows.index.names):  # e.g. set_index("id").to_parquet(...)
            rows = rows.reset_index()  # a named index is data: the snapshot (written without index) keeps it
        frames.append(rows)
    return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)), files


def _store_snapshot(frame: pd.DataFrame, digest: str, settings: config.Settings) -> Path:
    """Write the snapshot of `digest` unless it exists (temporary file, then an atomic rename)."""
    path = snapshot_path(digest, settings)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        frame.to_parquet(temporary, index=False)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def _author() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def add(
    name: str,
    source: str | Path,
    *,
    key: list[str] | None = None,
    description: str | None = None,
    settings: config.Settings | None = None,
) -> DatasetVersion:
    """Register a new version of dataset `name` from a CSV or Parquet file or a glob.

    Parameters
    ----------
    name: the dataset's name; versions are numbered 1, 2, ... per name.
    source: the file or glob; a DVC-tracked file (a committed ``.dvc`` file or ``dvc.lock`` entry matching
        it) is kept by DVC, anything else as a content-addressed Parquet snapshot.
    key: columns that identify a row (``data diff`` matches rows by them); they must be unique.
    description: free text shown by ``data show``.

    Raises
    ------
    UsageError: a bad name, or key columns that are missing or not unique.
    NotFoundError / UnsupportedDataError: the source matches no file, or cannot be read.
    """
    from mlops_nb.capture import data as capture_data
    from mlops_nb.capture import profile as capture_profile
    from mlops_nb.datasets import dvc

    check_name(name)
    settings = store.ensure_store(settings)
    frame, files = read_source(source)
    key = list(key or [])
    missing = [column for column in key if column not in frame.columns]
    if missing:
        raise UsageError(
            f"Key column(s) {missing} are not in {source}.", hint=f"Columns: {', '.join(map(str, frame))}."
        )
    if key and frame.duplicated(subset=key).any():
        raise UsageError(
            f"Key {key} does not identify rows of {source}: some repeat.", hint="Name more columns."
        )
    digest = capture_data.fingerprint(frame)
    profile = capture_profile.profile(frame, name=name, context=records.DATASET_INPUT_CONTEXT, digest=digest)
    kept_by_dvc = dvc.tracked(files[0]) if len(files) == 1 else None
    tags = {
        records.TAG_DATASET_NAME: name,
        records.TAG_DATASET_DIGEST: digest,
        records.TAG_DATASET_ROWS: str(len(frame)),
        records.TAG_DATASET_COLUMNS: json.dumps([str(c) for c in frame.columns]),
        records.TAG_DATASET_SOURCE: str(files[0]) if len(files) == 1 else str(Path(source).resolve()),
        records.TAG_DATASET_CREATED: datetime.now(UTC).isoformat(timespec="seconds"),
        records.TAG_DATASET_AUTHOR: _author(),
        records.TAG_DATASET_KEY: json.dumps(key),
        records.TAG_DATASET_DESCRIPTION: description,
        records.TAG_DATASET_DVC: json.dumps(kept_by_dvc) if kept_by_dvc else None,
    }
    writer = store.writer(settings)
    experiment = store.experiment_id(records.DATASET_EXPERIMENT, settings)
    # The version tag comes last, in one write: until then the run is no version (a process killed before it
    # leaves no half-written version behind, only a record `versions` ignores and a snapshot prune deletes).
    run = writer.create_run(experiment, tags)
    writer.log_dict(run.info.run_id, profile, records.ARTIFACT_DATASET_PROFILE)
    final: dict[str, str] = {}
    with lock(settings):  # prune waits: a snapshot is never deleted between its writing and its record
        if kept_by_dvc is None:
            stored = _store_snapshot(frame, digest, settings)
            final[records.TAG_DATASET_SNAPSHOT] = str(stored.relative_to(folder(settings)))
        number = max((v.version for v in versions(name, settings=settings, deleted=True)), default=0) + 1
        final.update({records.TAG_DATASET_VERSION: str(number), records.RUN_NAME: f"{name} v{number}"})
        writer.set_tags(run.info.run_id, final)
    writer.end_run(run.info.run_id, "FINISHED")
    return get(name, number, settings=settings)


def _from_run(run: Any, settings: config.Settings) -> DatasetVersion:
    tags = run.data.tags
    snapshot = tags.get(records.TAG_DATASET_SNAPSHOT)
    kept = tags.get(records.TAG_DATASET_DVC)
    return DatasetVersion(
        name=tags[records.TAG_DATASET_NAME],
        version=int(tags[records.TAG_DATASET_VERSION]),
        digest=tags[records.TAG_DATASET_DIGEST],
        rows=int(tags.get(records.TAG_DATASET_ROWS, "0")),
        columns=json.loads(tags.get(records.TAG_DATASET_COLUMNS, "[]")),
        source=tags.get(records.TAG_DATASET_SOURCE, ""),
        created=tags.get(records.TAG_DATASET_CREATED, ""),
        author=tags.get(records.TAG_DATASET_AUTHOR, ""),
        key=json.loads(tags.get(records.TAG_DATASET_KEY, "[]")),
        description=tags.get(records.TAG_DATASET_DESCRIPTION),
        snapshot=folder(settings) / snapshot if snapshot else None,
        dvc=json.loads(kept) if kept else None,
        run_id=run.info.run_id,
    )


def versions(
    name: str | None = None, *, settings: config.Settings | None = None, deleted: bool = False
) -> list[DatasetVersion]:
    """Every version of `name` (or of every dataset), by name then number; `deleted`: with deleted records."""
    from mlflow.entities import ViewType

    settings = settings or config.current()
    client = store.client(settings)
    experiment = client.get_experiment_by_name(records.DATASET_EXPERIMENT)
    if experiment is None:
        return []
    query = f"tags.`{records.TAG_DATASET_NAME}` = '{check_name(name)}'" if name else ""
    view = ViewType.ALL if deleted else ViewType.ACTIVE_ONLY
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], query, view, max_results=_PAGE, page_token=token
        )
        runs.extend(r for r in page if records.TAG_DATASET_VERSION in r.data.tags)
        token = page.token
        if not token:
            break
    found = [_from_run(run, settings) for run in runs]
    return sorted(found, key=lambda v: (v.name, v.version))


def get(
    name: str,
    version: int | str | None = None,
    *,
    settings: config.Settings | None = None,
    deleted: bool = False,
) -> DatasetVersion:
    """Version `version` of dataset `name` (None or ``"latest"``: the latest; ``"2"`` as 2); NotFoundError when
    there is none. `deleted`: also among version records deleted in MLflow (whose snapshot prune keeps while a
    registered model version's lineage names it)."""
    if isinstance(version, str):
        version = parse_ref(f"{name}@{version.strip()}")[1]
    elif version is not None:
        if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version < 1:
            raise UsageError(
                f"{version!r} is not a dataset version.", hint="Use 1, 2, ... or None for the latest."
            )
        version = int(version)
    found = versions(name, settings=settings, deleted=deleted)
    if not found:
        raise NotFoundError(
            f"There is no dataset named {name!r}.", hint="Add one with `mlops-nb data add NAME FILE`."
        )
    if version is None:
        return found[-1]
    for candidate in found:
        if candidate.version == version:
            return candidate
    known = ", ".join(str(v.version) for v in found)
    raise NotFoundError(f"Dataset {name!r} has no version {version}.", hint=f"Its versions: {known}.")


def profile(dv: DatasetVersion, settings: config.Settings | None = None) -> dict[str, Any]:
    """The schema and per-column statistics recorded when `dv` was added."""
    settings = settings or config.current()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory() as scratch:
        local = store.client(settings).download_artifacts(
            dv.run_id, records.ARTIFACT_DATASET_PROFILE, scratch
        )
        return json.loads(Path(local).read_text(encoding="utf-8"))
