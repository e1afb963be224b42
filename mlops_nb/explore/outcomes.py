"""What a run came to, for the run detail: its tags by owner, its error and failing cell, its gate
reports, the model version it registered and the code version it ran (a pipeline run and its steps take the
commit and notebook hash of the training step, which ran the notebook)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.config import Settings
from mlops_nb.exceptions import MlopsError, UsageError
from mlops_nb.explore import artifacts, checks
from mlops_nb.explore.rows import json_safe
from mlops_nb.redact import redact

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

_CELL_SOURCE_LIMIT = 4000


HOLDOUT = {
    "dataset": records.ARTIFACT_INGESTED_TEST,
    "digest": None,
    "context": "testing",
    "source": "pipeline",
}


def evaluation_data(tags: dict[str, str], metrics: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The data of a pipeline run's (or its evaluation step's) ``test_*`` scores recorded before they were
    linked to it: the held-out test split ingestion kept (``data/test.parquet``), which evaluation scores."""
    ours = tags.get(records.TAG_PIPELINE_KIND) in (
        records.PIPELINE_KIND_PIPELINE,
        records.PIPELINE_KIND_REPRODUCTION,
    )
    if not ours and tags.get(records.TAG_PIPELINE_STEP) != records.STEP_EVALUATION:
        return {}
    return {key: dict(HOLDOUT) for key in metrics if key.startswith("test_")}


def tag_groups(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """The tags split into mlops_nb's (``mlops_nb.*``), MLflow's (``mlflow.*``) and the user's."""
    groups: dict[str, dict[str, str]] = {"mlops_nb": {}, "mlflow": {}, "user": {}}
    for key in sorted(tags):
        group = (
            "mlops_nb" if key.startswith("mlops_nb.") else "mlflow" if key.startswith("mlflow.") else "user"
        )
        groups[group][key] = tags[key]
    return groups


def run_id_tag(tags: dict[str, str], tag: str) -> str | None:
    """A run id held in tag `tag`, or None when absent or not a run id (tags can be written by anyone)."""
    value = tags.get(tag)
    try:
        return checks.run_id(value)
    except UsageError:
        return None


def _read_json(settings: Settings, run_id: str, path: str) -> dict[str, Any] | None:
    """Artifact `path` of a run as a JSON object, read as the artifact browser reads it (a clean path, no
    link, size-limited); None when it is missing, refused or not JSON."""
    try:
        data = json.loads(artifacts.read_artifact(run_id, path, settings))
    except (MlopsError, ValueError):
        return None
    return json_safe(data) if isinstance(data, dict) else None


def _failed_cell(settings: Settings, client: MlflowClient, run: Run, index: int) -> dict[str, Any]:
    """Cell `index` of the run's notebook snapshot (the source notebook the index refers to)."""
    cell: dict[str, Any] = {"index": index, "source": None, "notebook": None}
    snapshot = run.data.tags.get(records.TAG_NOTEBOOK_SNAPSHOT) or next(
        (
            f.path
            for f in client.list_artifacts(run.info.run_id, records.ARTIFACT_CODE_DIR)
            if f.path.endswith(".ipynb") and not f.is_dir
        ),
        None,
    )
    if not snapshot:
        return cell
    notebook = _read_json(settings, run.info.run_id, snapshot)
    cells = notebook.get("cells") if notebook else None
    if isinstance(cells, list) and 0 <= index < len(cells) and isinstance(cells[index], dict):
        source = cells[index].get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        cell.update(source=text[:_CELL_SOURCE_LIMIT], notebook=snapshot)
    return cell


def error(settings: Settings, client: MlflowClient, run: Run, children: list[Run]) -> dict[str, Any] | None:
    """The stored failure of a run: its message and kind, the failing cell (index and source) and, on a
    pipeline run, the step that failed. None when the run recorded no error."""
    tags = run.data.tags
    failed_steps = [c for c in children if c.info.status == "FAILED" and c.data.tags.get(records.TAG_ERROR)]
    message = tags.get(records.TAG_ERROR)
    if not message and not failed_steps:
        return None
    step = failed_steps[0] if failed_steps else None
    source = step if step is not None and not tags.get(records.TAG_ERROR_CELL) else run
    cell_tag = source.data.tags.get(records.TAG_ERROR_CELL)
    cell = None
    if cell_tag is not None and cell_tag.isdigit():
        cell = _failed_cell(settings, client, source, int(cell_tag))
    return {
        "message": message or (step.data.tags.get(records.TAG_ERROR) if step else None),
        "kind": tags.get(records.TAG_ERROR_KIND)
        or (step.data.tags.get(records.TAG_ERROR_KIND) if step else None),
        "cell": cell,
        "exit_code": source.data.tags.get(records.TAG_KERNEL_EXIT_CODE),
        "failed_step": (
            {
                "run_id": step.info.run_id,
                "name": step.data.tags.get(records.TAG_PIPELINE_STEP) or step.info.run_name,
            }
            if step is not None
            else None
        ),
    }


_GATE_REPORTS = {
    records.STEP_DATA_VALIDATION: ("data", records.ARTIFACT_DATA_REPORT),
    records.STEP_MODEL_VALIDATION: ("model", records.ARTIFACT_MODEL_REPORT),
}


def gates(settings: Settings, run: Run, children: list[Run]) -> dict[str, Any]:
    """The gate reports (`gates/data.json`, `gates/model.json`) of a gate step, or of a pipeline run's gate
    steps, each with the run it belongs to: ``{"data": {...}, "model": {...}}`` (missing ones left out)."""
    found: dict[str, Any] = {}
    for source in [run, *children]:
        step = source.data.tags.get(records.TAG_PIPELINE_STEP)
        if step not in _GATE_REPORTS:
            continue
        gate, path = _GATE_REPORTS[step]
        if gate in found:
            continue
        report = _read_json(settings, source.info.run_id, path)
        if report is not None:
            found[gate] = {**report, "run_id": source.info.run_id, "artifact_path": path}
    return found


def registration(client: MlflowClient, run: Run, children: list[Run]) -> dict[str, Any] | None:
    """The model version a registration step (or a pipeline run) created, with its current aliases."""
    version = run.data.tags.get(records.TAG_MODEL_VERSION)
    step = run
    if not version:
        step = next((c for c in children if c.data.tags.get(records.TAG_MODEL_VERSION)), run)
        version = step.data.tags.get(records.TAG_MODEL_VERSION)
    if not version:
        return None
    pipeline_id = run_id_tag(run.data.tags, records.TAG_PIPELINE_RUN) or run.info.run_id
    matches = [
        mv
        for mv in client.search_model_versions(f"tags.`{records.TAG_PIPELINE_RUN}` = '{pipeline_id}'")
        if str(mv.version) == version
    ]
    if not matches:
        return {"name": None, "version": version, "aliases": [], "step_run_id": step.info.run_id}
    mv = matches[0]
    aliases = sorted(a for a, v in client.get_registered_model(mv.name).aliases.items() if str(v) == version)
    return {"name": mv.name, "version": version, "aliases": aliases, "step_run_id": step.info.run_id}


def code_source(run: Run, siblings: list[Run]) -> Run | None:
    """The run whose code tags describe `run`: itself when it has a commit or notebook hash, else (for a
    pipeline run or one of its steps) the pipeline's training step, which ran the notebook."""
    tags = run.data.tags
    if tags.get(records.SOURCE_GIT_COMMIT) or tags.get(records.TAG_NOTEBOOK_HASH):
        return None
    training = [
        s
        for s in siblings
        if s.data.tags.get(records.TAG_PIPELINE_STEP) == records.STEP_TRAINING
        and (s.data.tags.get(records.SOURCE_GIT_COMMIT) or s.data.tags.get(records.TAG_NOTEBOOK_HASH))
    ]
    return max(training, key=lambda s: s.info.start_time or 0) if training else None


def ui_hint(settings: Settings) -> str | None:
    """How to get the "Open in MLflow UI" link when no UI URL is configured (the store's URI redacted)."""
    if settings.ui_url:
        return None
    return (
        'Set ui_url = "http://<host>:<port>" under [tool.mlops_nb] in pyproject.toml (or at the top of '
        "mlops.toml, or the MLOPS_NB_UI_URL environment variable) to the address of an MLflow UI on this "
        f"store, e.g. one started with `mlflow ui --backend-store-uri {redact(settings.tracking_uri)}`, then "
        "restart JupyterLab."
    )
