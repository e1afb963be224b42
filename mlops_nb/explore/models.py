"""Registered models for the panel's Models section: models → versions with their aliases per environment,
each version's gate table (recorded at registration: the gate verdicts and the model gate's rows with
candidate, champion, threshold and verdict, raw values even when passing) and its lineage tags.

Shapes as in ``api/openapi.yaml`` (ModelList, ModelVersionDetail).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import checks

if TYPE_CHECKING:
    from mlflow import MlflowClient

_PAGE = 200
_NAME_LIMIT = 250


def model_name(value: object) -> str:
    """`value` as a registered model name, or a UsageError."""
    if not isinstance(value, str) or not value.strip() or len(value) > _NAME_LIMIT:
        raise UsageError(
            f"{value!r} is not a registered model name.", hint=f"Give 1 to {_NAME_LIMIT} characters."
        )
    return value


def version_number(value: object) -> str:
    """`value` as a model version number ("1", "2", ...), or a UsageError."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 9:
        raise UsageError(
            f"Model version {value!r} is not a version number.", hint="Versions are 1, 2, 3, ..."
        )
    return value


def alias_env(alias: str) -> dict[str, str | None]:
    """An alias split into its role and environment: "champion-staging" → champion in staging."""
    role, _, env = alias.partition("-")
    return {"alias": alias, "role": role, "env": env or None}


def _aliases(aliases: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{**alias_env(alias), "version": str(v)} for alias, v in sorted((aliases or {}).items())]


def _recorded_gates(tags: dict[str, str]) -> list[dict[str, Any]]:
    """The gate verdicts recorded on a version at registration (`records.gate_tag`)."""
    gates = []
    for key, verdict in sorted(tags.items()):
        if key.startswith(records.TAG_GATE_PREFIX) and key.endswith(".verdict"):
            gate = key[len(records.TAG_GATE_PREFIX) : -len(".verdict")]
            summary = tags.get(records.gate_tag(gate, "summary"))
            gates.append({"gate": gate, "verdict": verdict, "summary": summary})
    return gates


def _lineage(tags: dict[str, str]) -> dict[str, Any]:
    return {
        "pipeline_run_id": tags.get(records.TAG_PIPELINE_RUN),
        "notebook_hash": tags.get(records.TAG_NOTEBOOK_HASH),
        "git_commit": tags.get(records.SOURCE_GIT_COMMIT),
        "datasets": {
            key[len(records.TAG_MV_DATASET_DIGEST_PREFIX) :]: value
            for key, value in sorted(tags.items())
            if key.startswith(records.TAG_MV_DATASET_DIGEST_PREFIX)
        },
    }


def _reproduction(tags: dict[str, str]) -> dict[str, Any] | None:
    """The last reproduction's verdict tagged on a version (by mlops_nb.pipelines.reproduce), if any."""
    verdict = tags.get(records.TAG_REPRODUCE_VERDICT)
    if verdict is None:
        return None
    return {
        "verdict": verdict,
        "run_id": tags.get(records.TAG_REPRODUCE_RUN),
        "at": tags.get(records.TAG_REPRODUCE_AT),
        "summary": tags.get(records.TAG_REPRODUCE_SUMMARY),
    }


def _deploy_check(tags: dict[str, str]) -> dict[str, Any] | None:
    """The last deploy-check recorded on a version (by mlops_nb.serving.deploy_check), if any."""
    from mlops_nb.serving.deploy_check import recorded

    return recorded(tags)


def _version_row(mv: Any, model_aliases: dict[str, str] | None) -> dict[str, Any]:
    """A version's row; its aliases come from the model's (MLflow's version search leaves them out)."""
    tags = dict(mv.tags or {})
    number = str(mv.version)
    return {
        "version": number,
        "aliases": _aliases({a: v for a, v in (model_aliases or {}).items() if str(v) == number}),
        "status": mv.status,
        "run_id": mv.run_id,
        "created": mv.creation_timestamp,
        "gates": _recorded_gates(tags),
    }


def _versions(client: MlflowClient, name: str) -> list[Any]:
    quoted = name.replace("'", "\\'")
    found: list[Any] = []
    token = None
    while True:
        page = client.search_model_versions(f"name = '{quoted}'", max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return sorted(found, key=lambda mv: -int(mv.version))


def list_models(settings: Settings | None = None) -> dict[str, Any]:
    """Every registered model with its aliases and versions (newest first), and the open approval requests."""
    settings = store.ensure_store(settings)
    client = store.client(settings)
    models = []
    with checks.translated("the registered models"):
        token = None
        registered: list[Any] = []
        while True:
            page = client.search_registered_models(max_results=_PAGE, page_token=token)
            registered.extend(page)
            token = page.token
            if not token:
                break
        for model in sorted(registered, key=lambda m: m.name):
            models.append(
                {
                    "name": model.name,
                    "description": model.description or None,
                    "aliases": _aliases(model.aliases),
                    "versions": [_version_row(mv, model.aliases) for mv in _versions(client, model.name)],
                    "pending": pending(model.name),
                }
            )
    return {"models": models}


def _model_checks(client: MlflowClient, pipeline_run_id: str | None) -> dict[str, Any] | None:
    """The model gate's report (``gates/model.json``) of the version's pipeline run, if it has one."""
    try:
        run = client.get_run(checks.run_id(pipeline_run_id))
    except Exception:  # no or a deleted pipeline run: the recorded verdicts only
        return None
    query = (
        f"tags.`{records.TAG_PIPELINE_RUN}` = '{pipeline_run_id}' "
        f"and tags.`{records.TAG_PIPELINE_STEP}` = '{records.STEP_MODEL_VALIDATION}'"
    )
    steps = client.search_runs([run.info.experiment_id], query, max_results=1, order_by=["start_time DESC"])
    if not steps:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(steps[0].info.run_id, records.ARTIFACT_MODEL_REPORT, tmp)
        except Exception:  # a step that failed before logging its report
            return None
        return json.loads(Path(path).read_text(encoding="utf-8"))


def model_version(name: str, version: str, settings: Settings | None = None) -> dict[str, Any]:
    """One version: aliases, lineage, recorded gates, the model gate's rows, and the model's history."""
    name, version = model_name(name), version_number(version)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"model {name!r} version {version}"):
        model = client.get_registered_model(name)
        mv = client.get_model_version(name, version)
        tags = dict(mv.tags or {})
        report = _model_checks(client, tags.get(records.TAG_PIPELINE_RUN))
        moves = [m for m in _moves(name) if m["version"] == version]
        waiting = [m for m in pending(name) if m["version"] == version]
    return {
        "name": name,
        **_version_row(mv, model.aliases),
        "model_aliases": _aliases(model.aliases),
        "lineage": _lineage(tags),
        "reproduction": _reproduction(tags),
        "deploy_check": _deploy_check(tags),
        "model_gate": report,
        "history": moves,
        "pending": waiting,
    }


def _moves(name: str) -> list[dict[str, Any]]:
    from mlops_nb.registry import promotion

    return [move.to_dict() for move in promotion.history(name)]


def history(name: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every move of model `name`, newest first (the promotion core's record); NotFoundError for an
    unknown model."""
    name = model_name(name)
    settings = store.ensure_store(settings)
    with checks.translated(f"model {name!r}"):
        store.client(settings).get_registered_model(name)
        return _moves(name)


def pending(name: str | None = None) -> list[dict[str, Any]]:
    """Open approval requests (of model `name`, or of every model)."""
    from mlops_nb.registry import promotion

    return [move.to_dict() for move in promotion.pending(name)]
