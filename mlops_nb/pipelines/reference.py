"""Reading earlier pipeline runs: their steps, split statistics and watermarks, and the reference the
data gate compares new data with (the champion's training split, else the previous run's)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import NotFoundError, StoreError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from mlops_nb.pipelines.spec import PipelineSpec


def load_json(client: MlflowClient, run_id: str, path: str) -> dict[str, Any]:
    """The JSON artifact `path` of run `run_id`."""
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder:
        local = client.download_artifacts(run_id, path, folder)
        return json.loads(Path(local).read_text(encoding="utf-8"))


def pipeline_step(
    pipeline_run_id: str, step: str, *, client: MlflowClient | None = None, experiment_id: str | None = None
) -> Run | None:
    """The finished `step` run (one of `records.STEPS`) of a pipeline run, or None."""
    client = client or store.client()
    experiment_id = experiment_id or client.get_run(pipeline_run_id).info.experiment_id
    found = client.search_runs(
        [experiment_id],
        f"tags.`{records.TAG_PIPELINE_RUN}` = '{pipeline_run_id}' and "
        f"tags.`{records.TAG_PIPELINE_STEP}` = '{step}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return found[0] if found else None


def split_profile(run_id: str, split: str = "train", *, client: MlflowClient | None = None) -> dict[str, Any]:
    """The `splits/<split>.json` statistics of a run; `train` also finds a split logged as training data
    under another name (the one with the most columns when there are several, e.g. X_train and y_train)."""
    client = client or store.client()
    run = _run(client, run_id)
    names = [split]
    context = records.SPLIT_CONTEXTS.get(split)
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        input_tags = {tag.key: tag.value for tag in dataset_input.tags}
        logged = input_tags.get(records.INPUT_SPLIT)
        if logged and logged not in names and context and input_tags.get(records.INPUT_CONTEXT) == context:
            names.append(logged)
    found = []
    for candidate in names:
        with contextlib.suppress(Exception):
            found.append(load_json(client, run_id, records.split_artifact(candidate)))
            if candidate == split:
                return found[-1]
    if found:  # X_train and y_train both training data: the widest is the one describing the inputs
        return max(found, key=lambda profile: int(profile.get("num_columns") or 0))
    available = sorted(
        item.path.removeprefix(records.ARTIFACT_SPLITS_DIR + "/").removesuffix(".json")
        for item in client.list_artifacts(run_id, records.ARTIFACT_SPLITS_DIR)
    )
    raise NotFoundError(
        f"Run {run_id} recorded no split {split!r} (splits: {', '.join(available) or 'none'}).",
        hint="Log it with mlops_nb.log_split(train=...) in the training notebook.",
    )


def previous_runs(client: MlflowClient, experiment_id: str, name: str, max_results: int) -> list[Run]:
    """The last successful runs of pipeline `name` in the experiment, newest first."""
    filter_string = (
        f"tags.`{records.TAG_PIPELINE_NAME}` = '{name}' and "
        f"tags.`{records.TAG_PIPELINE_KIND}` = '{records.PIPELINE_KIND_PIPELINE}' and "
        "attributes.status = 'FINISHED'"
    )
    return client.search_runs(
        [experiment_id], filter_string, max_results=max_results, order_by=["attributes.start_time DESC"]
    )


def last_watermark(client: MlflowClient, experiment_id: str, name: str) -> str | None:
    """The watermark of the last successful run of pipeline `name` that recorded one (None: none did)."""
    for run in previous_runs(client, experiment_id, name, 5):
        if records.TAG_DATA_WATERMARK in run.data.tags:
            return run.data.tags[records.TAG_DATA_WATERMARK]
    return None


def reference_profile(
    client: MlflowClient, spec: PipelineSpec, experiment_id: str
) -> tuple[dict[str, Any] | None, str, list[str]]:
    """The reference split profile, where it comes from, and the columns of the data it was drawn
    from (its pipeline run's ingested data; empty when it was not trained by a pipeline)."""
    from mlops_nb.registry.promotion import alias_for
    from mlops_nb.registry.register import champion, champion_reference_split

    alias = alias_for(records.ALIAS_CHAMPION, spec.env)  # the environment's champion, when run in one
    reference = champion_reference_split(spec.model_name, alias=alias, client=client)
    if reference is not None:
        version = champion(spec.model_name, alias=alias, client=client)
        pipeline_run = ((version.tags or {}) if version else {}).get(records.TAG_PIPELINE_RUN)
        columns = _ingested_columns(client, pipeline_run) if pipeline_run else []
        return reference, f"the training split of {spec.model_name}@{alias}", columns
    for run in previous_runs(client, experiment_id, spec.name, 1):
        pipeline_run = run.info.run_id
        training = _step(client, pipeline_run, records.STEP_TRAINING)
        split = None
        if training:
            with contextlib.suppress(NotFoundError):
                split = split_profile(training.info.run_id, "train", client=client)
        if split is not None:
            columns = _ingested_columns(client, pipeline_run)
            return split, f"the training split of the previous run {pipeline_run}", columns
        ingested = _ingested_profile(client, pipeline_run)
        if ingested is not None:
            return ingested, f"the ingested data of the previous run {pipeline_run}", []
    return None, "no champion and no previous successful run: nothing to compare with", []


def _ingested_columns(client: MlflowClient, pipeline_run_id: str) -> list[str]:
    """The columns of the data a pipeline run ingested ([] when unknown)."""
    return [str(name) for name in (_ingested_profile(client, pipeline_run_id) or {}).get("columns", {})]


def _ingested_profile(client: MlflowClient, pipeline_run_id: str) -> dict[str, Any] | None:
    ingestion = _step(client, pipeline_run_id, records.STEP_INGESTION)
    if ingestion is not None:
        with contextlib.suppress(Exception):
            return load_json(client, ingestion.info.run_id, records.ARTIFACT_INGESTED_PROFILE)
    return None


def _step(client: MlflowClient, pipeline_run_id: str, step: str) -> Run | None:
    with contextlib.suppress(Exception):  # a deleted pipeline run has no steps to read
        return pipeline_step(pipeline_run_id, step, client=client)
    return None


def _run(client: MlflowClient, run_id: str) -> Run:
    """Run `run_id`, with MLflow's "does not exist" turned into a NotFoundError."""
    from mlflow.exceptions import MlflowException

    try:
        return store.retrying(lambda: client.get_run(run_id))
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(
                f"Run {run_id!r} does not exist.", hint="Pass the id of a tracked run."
            ) from None
        raise StoreError(f"Run {run_id!r} could not be read: {exc}") from exc
