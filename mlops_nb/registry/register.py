"""Registering models and moving their aliases: the registry side of a pipeline run.

- `register(run_id, model_uri, name, tags=...)` makes a model version with lineage tags and the alias
  `challenger`; it never touches `champion`, and a failure half-way deletes what it made.
- `champion(name)`, `champion_metrics(name)`, `champion_reference_split(name)`: what the gates compare
  a candidate with.
Moving `champion` (gates, approval, rollback, the record of each move) is `registry/promotion.py`'s job.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_nb import records, store
from mlops_nb.exceptions import MlopsError, NotFoundError, StoreError, UsageError
from mlops_nb.interrupts import deferred_signals

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

T = TypeVar("T")
_SUMMARY_LIMIT = 4000  # characters of a gate summary kept in a tag
_READY_TIMEOUT = 300.0  # seconds to wait for a registry that creates versions asynchronously


def register(
    run_id: str,
    model_uri: str,
    name: str,
    *,
    tags: Mapping[str, str] | None = None,
    gates: Mapping[str, Any] | None = None,
    client: MlflowClient | None = None,
) -> ModelVersion:
    """Register the model `model_uri` logged by run `run_id` as a new version of `name`.

    `model_uri` is `models:/<model_id>` (what `log_model` returns) or `runs:/<run_id>/<name>`. The
    version is tagged with the lineage found on the run (pipeline run, notebook hash, git commit,
    dataset digests per split, see `lineage_tags`), with the result of each gate in `gates`
    ({"data": DataReport, "model": ModelReport}, see `gate_tags`), then with `tags`, which win. It
    gets the alias `challenger`; `champion` is left alone. If tagging or aliasing fails, the new
    version (and the registered model, if this call created it) is deleted and a StoreError raised.
    """
    client = client or store.client()
    gateway = store.Writer(client)
    run = _get(lambda: client.get_run(run_id), f"Run {run_id!r}", "Pass the id of a tracked run.")
    source, model_id = _resolve_model(client, run, model_uri)
    version_tags = {
        **lineage_tags(run),
        **gate_tags(gates or {}),
        **{str(k): str(v) for k, v in (tags or {}).items()},
    }
    created_model = False
    version: ModelVersion | None = None
    challenger: ModelVersion | None = None
    with deferred_signals():  # a signal waits until the version is complete or rolled back
        try:
            created_model = gateway.create_registered_model(name)
            challenger = (
                None if created_model else champion(name, alias=records.ALIAS_CHALLENGER, client=client)
            )
            version = gateway.create_model_version(
                name, source, run_id, tags=version_tags, model_id=model_id, await_creation_for=0
            )
            version = _wait_ready(client, version)
            gateway.set_alias(name, records.ALIAS_CHALLENGER, version.version)
            if model_id:
                _link_logged_model(client, model_id, name, version.version)
            return client.get_model_version(name, version.version)
        except BaseException as exc:
            _undo(gateway, name, version, created_model, challenger)
            if not isinstance(exc, Exception) or (
                isinstance(exc, MlopsError) and not isinstance(exc, StoreError)
            ):
                raise  # an interruption, or a mistake of the caller's that says what to do
            made = f"version {version.version} of " if version is not None else "a version of "
            raise StoreError(
                f"Registering {made}model {name!r} failed and was rolled back: {exc}",
                hint="Nothing was left half-made; fix the cause and register again.",
            ) from exc


def lineage_tags(run: Run) -> dict[str, str]:
    """The lineage a model version inherits from the run that logged it.

    Its pipeline run (`records.TAG_PIPELINE_RUN`), notebook hash, git commit, and one
    `records.dataset_digest_tag(split)` per dataset input (the split's full-content fingerprint).
    """
    run_tags = run.data.tags
    tags = {
        key: run_tags[key]
        for key in (records.TAG_PIPELINE_RUN, records.TAG_NOTEBOOK_HASH, records.SOURCE_GIT_COMMIT)
        if run_tags.get(key)
    }
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        input_tags = {tag.key: tag.value for tag in dataset_input.tags}
        split = input_tags.get(records.INPUT_SPLIT) or dataset_input.dataset.name
        tags[records.dataset_digest_tag(split)] = dataset_input.dataset.digest
    return tags


def gate_tags(gates: Mapping[str, Any]) -> dict[str, str]:
    """`records.gate_tag(gate)` = "passed" | "failed" and `gate_tag(gate, "summary")` per gate report
    (anything with `passed` and `summary()`, such as the gates' DataReport and ModelReport)."""
    tags = {}
    for gate, report in gates.items():
        tags[records.gate_tag(gate)] = "passed" if report.passed else "failed"
        tags[records.gate_tag(gate, "summary")] = report.summary()[:_SUMMARY_LIMIT]
    return tags


def champion(
    name: str, *, alias: str = records.ALIAS_CHAMPION, client: MlflowClient | None = None
) -> ModelVersion | None:
    """The version of `name` holding `alias` (champion by default), or None if there is none."""
    client = client or store.client()
    from mlflow.exceptions import MlflowException

    try:
        model = store.retrying(lambda: client.get_registered_model(name))
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise StoreError(f"Could not read registered model {name!r}: {exc}") from exc
    version = model.aliases.get(alias) if model.aliases else None
    return None if version is None else client.get_model_version(name, str(version))


def champion_metrics(
    name: str,
    keys: Iterable[str] | None = None,
    *,
    alias: str = records.ALIAS_CHAMPION,
    client: MlflowClient | None = None,
) -> dict[str, float] | None:
    """The champion's metrics (all, or only `keys` it has), or None when `name` has no champion
    (`alias`: an environment's champion, e.g. champion-staging).

    Read from the version's training run, then from its pipeline run's evaluation step (the metrics
    per slice) and from the pipeline run itself, whose values win: that is where a pipeline's evaluation
    logs the metrics the model gate compares.
    """
    from mlops_nb.pipelines.reference import pipeline_step

    client = client or store.client()
    version = champion(name, alias=alias, client=client)
    if version is None:
        return None
    metrics: dict[str, float] = {}
    if version.run_id:
        metrics.update(client.get_run(version.run_id).data.metrics)
    pipeline_run = (version.tags or {}).get(records.TAG_PIPELINE_RUN)
    if pipeline_run:
        with contextlib.suppress(Exception):  # a deleted pipeline run leaves the training run's values
            evaluation = pipeline_step(pipeline_run, records.STEP_EVALUATION, client=client)
            if evaluation is not None:
                metrics.update(evaluation.data.metrics)
            metrics.update(client.get_run(pipeline_run).data.metrics)
    if keys is None:
        return metrics
    return {key: metrics[key] for key in keys if key in metrics}


def champion_reference_split(
    name: str,
    split: str = "train",
    *,
    alias: str = records.ALIAS_CHAMPION,
    client: MlflowClient | None = None,
) -> dict[str, Any] | None:
    """The statistics of the split `split` of the champion's training run, or None without a champion.

    A NotFoundError when the champion's run recorded no such split.
    """
    from mlops_nb.pipelines.reference import split_profile

    client = client or store.client()
    version = champion(name, alias=alias, client=client)
    if version is None:
        return None
    if not version.run_id:
        raise NotFoundError(
            f"{name}@{alias} (version {version.version}) has no source run, hence no training split.",
            hint="Promote a version registered from a tracked run.",
        )
    return split_profile(version.run_id, split, client=client)


# --- helpers ------------------------------------------------------------------------------------------


def _get(action: Callable[[], T], what: str, hint: str) -> T:
    """`action()` reading `what`, with MLflow's "does not exist" turned into a NotFoundError."""
    from mlflow.exceptions import MlflowException

    try:
        return store.retrying(action)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(f"{what} does not exist.", hint=hint) from None
        raise StoreError(f"{what} could not be read: {exc}") from exc


def _resolve_model(client: MlflowClient, run: Run, model_uri: str) -> tuple[str, str | None]:
    """(source, logged model id) of a `models:/<id>` or `runs:/<run>/<name>` URI of `run`'s model."""
    run_id = run.info.run_id
    if model_uri.startswith("models:/") and "/" not in model_uri.removeprefix("models:/"):
        model_id = model_uri.removeprefix("models:/")
        logged = _get(
            lambda: client.get_logged_model(model_id),
            f"Logged model {model_id!r}",
            "Pass the model_uri that log_model returned.",
        )
        if logged.source_run_id and logged.source_run_id != run_id:
            raise UsageError(
                f"Model {model_uri} was logged by run {logged.source_run_id}, not by run {run_id}.",
                hint="Register a model with the run that logged it, so its lineage is right.",
            )
        return model_uri, model_id
    if model_uri.startswith("runs:/"):
        uri_run, _, artifact = model_uri.removeprefix("runs:/").partition("/")
        if uri_run != run_id:
            raise UsageError(f"{model_uri} names run {uri_run}, not run {run_id}.")
        found = client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"name = '{artifact.strip('/')}'"
        )
        found = [model for model in found if model.source_run_id == run_id]
        if not found:
            raise NotFoundError(
                f"Run {run_id} logged no model named {artifact!r}.",
                hint="Log it with mlflow.<flavor>.log_model.",
            )
        latest = max(found, key=lambda model: model.creation_timestamp)
        return f"models:/{latest.model_id}", latest.model_id
    raise UsageError(
        f"Cannot register {model_uri!r}: expected models:/<model_id> or runs:/<run_id>/<model name>.",
        hint="Use the model_uri that log_model returned.",
    )


def _wait_ready(client: MlflowClient, version: ModelVersion) -> ModelVersion:
    deadline = time.monotonic() + _READY_TIMEOUT
    while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.5)
        version = client.get_model_version(version.name, version.version)
    if version.status != "READY":
        raise StoreError(
            f"Version {version.version} of {version.name!r} is {version.status}: {version.status_message}"
        )
    return version


def _link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Record the version on the logged model, as mlflow.register_model does (the UI links them)."""
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    logged = client.get_logged_model(model_id)
    links = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    links.append({"name": name, "version": version})
    store.Writer(client).set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(links)})


def _undo(
    gateway: store.Writer,
    name: str,
    version: ModelVersion | None,
    created_model: bool,
    challenger: ModelVersion | None,
) -> None:
    """Delete what a failed registration made and give `challenger` its alias back (best effort: the
    original error is what matters)."""
    with contextlib.suppress(Exception):
        if version is not None:
            gateway.delete_model_version(name, version.version)
        if challenger is not None:
            gateway.set_alias(name, records.ALIAS_CHALLENGER, challenger.version)
        if created_model and not gateway.client.search_model_versions(f"name = '{name}'", max_results=1):
            gateway.delete_registered_model(name)
