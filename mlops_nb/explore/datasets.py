"""Datasets for the panel's Datasets view: names → versions with row counts, schema, statistics and the model
versions trained on each. Shapes as in ``api/openapi.yaml`` (DatasetList, DatasetVersionDetail).

A model version was trained on a dataset version when the run it was registered from, or its pipeline run,
records that version (the lineage prune.py walks: ``prune.model_versions``).
"""

from __future__ import annotations

from typing import Any

from mlops_nb import store
from mlops_nb.config import Settings
from mlops_nb.datasets import prune, repository
from mlops_nb.datasets.repository import DatasetVersion
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import checks


def dataset_name(value: object) -> str:
    """`value` as a dataset name, or a UsageError."""
    return repository.check_name(value)  # type: ignore[arg-type]


def version_number(value: object) -> int:
    """`value` as a dataset version number (1, 2, ...), or a UsageError."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 9 or int(value) < 1:
        raise UsageError(
            f"Dataset version {value!r} is not a version number.", hint="Versions are 1, 2, 3, ..."
        )
    return int(value)


def trained_on(settings: Settings) -> dict[tuple[str, int], list[dict[str, str]]]:
    """Registered model versions ({name, version}) by the dataset version (name, number) they were trained on."""
    found: dict[tuple[str, int], list[dict[str, str]]] = {}
    for mv, lineage in prune.model_versions(settings):
        refs = {ref for ref in map(prune.dataset_ref, lineage) if ref is not None and ref[1].isdigit()}
        for name, version in refs:
            found.setdefault((name, int(version)), []).append({"name": mv.name, "version": str(mv.version)})
    for models in found.values():
        models.sort(key=lambda m: (m["name"], int(m["version"])))
    return found


def _row(dv: DatasetVersion, models: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "version": dv.version,
        "rows": dv.rows,
        "num_columns": len(dv.columns),
        "digest": dv.digest,
        "created": dv.created,
        "author": dv.author,
        "source": dv.source,
        "description": dv.description,
        "kept_by": "dvc" if dv.dvc else "snapshot",
        "run_id": dv.run_id,
        "model_versions": models,
    }


def list_datasets(settings: Settings | None = None) -> dict[str, Any]:
    """Every dataset with its versions (newest first) and the model versions trained on each."""
    settings = store.ensure_store(settings)
    with checks.translated("the datasets"):
        every = repository.versions(settings=settings)
        models = trained_on(settings) if every else {}
    by_name: dict[str, list[DatasetVersion]] = {}
    for dv in every:
        by_name.setdefault(dv.name, []).append(dv)
    return {
        "datasets": [
            {
                "name": name,
                "versions": [_row(dv, models.get((name, dv.version), [])) for dv in reversed(found)],
            }
            for name, found in sorted(by_name.items())
        ]
    }


def dataset_version(name: str, version: str, settings: Settings | None = None) -> dict[str, Any]:
    """One version: its record, schema and per-column statistics (``profile``, null when the artifact is
    missing) and the model versions trained on it."""
    name, number = dataset_name(name), version_number(version)
    settings = store.ensure_store(settings)
    with checks.translated(f"dataset {name!r} version {number}"):
        dv = repository.get(name, number, settings=settings)
        try:
            profile = repository.profile(dv, settings)
        except Exception:  # an add interrupted before its profile was logged: the record alone
            profile = None
        models = trained_on(settings).get((name, number), [])
    return {
        "name": name,
        **_row(dv, models),
        "columns": [str(c) for c in dv.columns],
        "key": dv.key,
        "dvc": dv.dvc,
        "profile": profile,
    }
