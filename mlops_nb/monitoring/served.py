"""The served version a pass judges: its number, training reference, evaluation metric and pipeline policy
(thresholds, metric, task, the pipeline and environment whose retraining its triggers start)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.monitoring.settings import Thresholds

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass
class Served:
    """What monitoring knows of one model version."""

    model: str
    alias: str
    version: str
    run_id: str | None
    reference: dict[str, Any] | None  # the training split's profile (capture/profile.py)
    target_reference: dict[str, Any] | None  # the target column's statistics: prediction drift's reference
    thresholds: Thresholds = field(default_factory=Thresholds)
    pipeline: str | None = None  # the pipeline's file (or name) whose release retraining runs
    env: str | None = None
    metric: str | None = None  # the pipeline's model.metric, e.g. test_accuracy
    task: str | None = None
    greater_is_better: bool = True
    evaluation: float | None = None  # the version's value of `metric` at evaluation
    gate_threshold: float | None = None  # gates.model.<metric>.threshold
    policy: str = "defaults (no pipeline file)"  # where the thresholds come from


def env_of(alias: str) -> str | None:
    """The environment an alias belongs to: ``champion-prod`` -> prod; a bare alias: None."""
    base, dash, env = alias.partition("-")
    return env if dash and base in (records.ALIAS_CHAMPION, records.ALIAS_CHALLENGER) and env else None


def served(
    model: str,
    alias: str,
    *,
    version: str | None = None,
    pipeline: str | Path | None = None,
    client: MlflowClient | None = None,
) -> Served:
    """The version `model@alias` points at (or `version`), with its reference and pipeline policy."""
    from mlops_nb.pipelines import spec as spec_mod
    from mlops_nb.registry.promotion_gates import pipeline_spec
    from mlops_nb.serving import model_source

    client = client or store.client()
    number = str(version) if version else model_source.resolve(model, alias, client=client)
    found = _version(client, model, number)
    reference = model_source.reference_statistics(found.run_id, client=client)
    result = Served(model, alias, number, found.run_id, reference, None)
    spec, origin = (spec_mod.load(pipeline), str(pipeline)) if pipeline else pipeline_spec(client, found)
    pipeline_run = (found.tags or {}).get(records.TAG_PIPELINE_RUN)
    run_tags = _tags(client, pipeline_run)
    result.env = env_of(alias) or run_tags.get(records.TAG_PIPELINE_ENV) or None
    result.pipeline = run_tags.get(records.TAG_PIPELINE_NAME)
    released = spec is None and not pipeline
    if released:  # a version a release trained: its materialized pipeline file is gone, the release has it
        spec, origin = _released(run_tags) or (None, origin)
    if spec is not None:
        result.thresholds = spec.monitoring
        result.policy = f"the monitoring section of {origin}"
        result.pipeline = spec.name if released else str(spec.path)  # by name: the env's current release
        result.metric, result.task, result.greater_is_better = spec.metric, spec.task, spec.greater_is_better
        gate = spec.model_gate.get(spec.metric) or {}
        result.gate_threshold = float(gate["threshold"]) if gate.get("threshold") is not None else None
        result.target_reference = _target(client, reference, pipeline_run, spec.target)
        result.evaluation = _metrics(client, found.run_id, pipeline_run).get(spec.metric)
    return result


def _released(run_tags: dict[str, str]) -> tuple[Any, str] | None:
    """The pipeline file pinned by the release a pipeline run ran (``mlops_nb.release = <env>#<number>``)."""
    import tempfile

    from mlops_nb.exceptions import MlopsError
    from mlops_nb.pipelines import release
    from mlops_nb.pipelines import spec as spec_mod

    env, sep, number = run_tags.get(records.TAG_RELEASE, "").rpartition("#")
    name = run_tags.get(records.TAG_PIPELINE_NAME)
    if not (name and env and sep and number.isdigit()):
        return None
    try:
        pinned = release.get(name, env, int(number))
        with tempfile.TemporaryDirectory(prefix="mlops-nb-monitor-") as folder:
            return spec_mod.load(release.materialize(pinned, Path(folder))), f"release {name} {env}#{number}"
    except (MlopsError, OSError):
        return None


def _version(client: MlflowClient, model: str, number: str) -> Any:
    from mlflow.exceptions import MlflowException

    from mlops_nb.exceptions import NotFoundError

    try:
        return store.retrying(lambda: client.get_model_version(model, number))
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise NotFoundError(
                f"{model} has no version {number!r}.", hint=f"Its versions: mlops-nb history {model}."
            ) from None
        raise


def _tags(client: MlflowClient, run_id: str | None) -> dict[str, str]:
    with contextlib.suppress(Exception):  # a deleted pipeline run
        return dict(client.get_run(run_id).data.tags) if run_id else {}
    return {}


def _metrics(client: MlflowClient, run_id: str | None, pipeline_run: str | None) -> dict[str, float]:
    """The version's metrics: its training run's, overridden by its pipeline run's (where evaluation logs)."""
    metrics: dict[str, float] = {}
    for each in (run_id, pipeline_run):
        with contextlib.suppress(Exception):
            if each:
                metrics.update(client.get_run(each).data.metrics)
    return metrics


def _target(
    client: MlflowClient, reference: dict[str, Any] | None, pipeline_run: str | None, target: str
) -> dict[str, Any] | None:
    """The target column's statistics in the training split, else in the rows the pipeline ingested."""
    from mlops_nb.pipelines.reference import load_json, pipeline_step

    columns = (reference or {}).get("columns") or {}
    if target in columns:
        return columns[target]
    with contextlib.suppress(Exception):
        ingestion = (
            pipeline_step(pipeline_run, records.STEP_INGESTION, client=client) if pipeline_run else None
        )
        if ingestion is not None:
            return load_json(client, ingestion.info.run_id, records.ARTIFACT_INGESTED_PROFILE)["columns"][
                target
            ]
    return None
