"""Copy a run's notebook snapshot out of the artifact store so Jupyter can open it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import NotFoundError
from mlops_nb.explore import checks
from mlops_nb.explore.runs import artifact_files


def _artifact_path(tags: dict[str, str], code_files: list[str]) -> str | None:
    path = tags.get(records.TAG_NOTEBOOK_SNAPSHOT) or next(
        (p for p in code_files if p.endswith(".ipynb")), None
    )
    if not path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or pure.suffix != ".ipynb":
        return None  # not something we wrote: refuse rather than follow it
    return str(pure)


def copy_snapshot(run_id: str, destination: Path, settings: Settings | None = None) -> Path:
    """Copy the snapshot of `run_id` to ``destination/<run_id>/<notebook name>``, replacing older copies."""
    run_id = checks.run_id(run_id)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        code_files = artifact_files(client, run_id, records.ARTIFACT_CODE_DIR)
        artifact = _artifact_path(dict(run.data.tags), code_files)
        if artifact is None:
            raise NotFoundError(
                f"Run {run_id} has no notebook snapshot.", hint="Runs tracked with %mlops track have one."
            )
        target_dir = destination / run_id
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mlops-nb-snapshot-") as tmp:
            local = Path(client.download_artifacts(run_id, artifact, tmp))
            target = target_dir / PurePosixPath(artifact).name
            shutil.copyfile(local, target)
    return target
