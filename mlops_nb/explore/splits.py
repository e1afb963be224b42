"""A run's data splits: its dataset inputs (digest, context) joined with ``splits/<name>.json`` statistics."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.explore.rows import json_safe

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run


def _statistics(client: MlflowClient, run_id: str) -> dict[str, dict[str, Any]]:
    files = [
        f.path
        for f in client.list_artifacts(run_id, records.ARTIFACT_SPLITS_DIR)
        if not f.is_dir and f.path.endswith(".json")
    ]
    found: dict[str, dict[str, Any]] = {}
    if not files:
        return found
    with tempfile.TemporaryDirectory(prefix="mlops-nb-splits-") as tmp:
        folder = Path(client.download_artifacts(run_id, records.ARTIFACT_SPLITS_DIR, tmp))
        for path in files:
            local = folder / Path(path).name
            try:
                stats = json_safe(json.loads(local.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a split file written by something else; the dataset input still shows
            if isinstance(stats, dict):
                stats["artifact_path"] = path
                found[str(stats.get("name") or Path(path).stem)] = stats
    return found


def of_run(client: MlflowClient, run: Run) -> list[dict[str, Any]]:
    """The Split objects of the REST contract, one per dataset input or statistics file, by name."""
    stats = _statistics(client, run.info.run_id)
    inputs: dict[str, dict[str, Any]] = {}
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        dataset = dataset_input.dataset
        name = tags.get(records.INPUT_SPLIT) or dataset.name
        inputs[name] = {"digest": dataset.digest, "context": tags.get(records.INPUT_CONTEXT)}
    merged = []
    for name in sorted(set(stats) | set(inputs)):
        s = stats.get(name, {})
        i = inputs.get(name, {})
        merged.append(
            {
                "name": name,
                "context": s.get("context") or i.get("context") or records.SPLIT_CONTEXTS.get(name.lower()),
                "digest": s.get("digest") or i.get("digest"),
                "type": s.get("type"),
                "num_rows": s.get("num_rows"),
                "num_columns": s.get("num_columns"),
                "seed": s.get("seed"),
                "schema": s.get("schema") or [],
                "columns": s.get("columns") or {},
                "artifact_path": s.get("artifact_path"),
            }
        )
    return merged
