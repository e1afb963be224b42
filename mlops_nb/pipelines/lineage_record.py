"""A pipeline run's record as a reproduction reads it: code, pipeline file, parameters, seeds, data, environment.

`read(model, version)` or `read(run_id=...)` gathers, from the model version's lineage tags and the runs they name,
everything `mlops_nb.pipelines.reproduce` needs to run the same pipeline again.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.exceptions import NotFoundError, StoreError, UsageError
from mlops_nb.pipelines import reference

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run


@dataclass(frozen=True)
class Record:
    """What a pipeline run recorded about how it was made."""

    what: str  # how errors name it: "version 3 of iris" or "pipeline run <id>"
    pipeline_run_id: str
    training_run_id: str
    ingestion_run_id: str | None
    experiment: str  # the pipeline run's experiment name
    pipeline_name: str
    env: str | None
    pipeline_file: str  # its path when it ran
    pipeline_text: str  # its content as it ran (the pipeline run's artifact)
    release: str | None  # "<env>#<number>" when it ran a release
    commit: str | None
    dirty: bool
    diff: str | None  # the uncommitted changes (code/git.diff) when dirty
    notebook_hash: str | None
    notebook_path: str | None
    notebook_snapshot: str | None  # artifact path of the notebook snapshot on the training run
    parameters: dict[str, str]
    metrics: dict[str, float]
    seconds: float  # how long the pipeline run took
    data_source: str | None
    data_digest: str | None
    data_rows: str | None
    watermark: str | None  # the maximum of the watermark column among the ingested rows
    watermark_after: str | None  # the watermark the ingestion read rows after
    dataset: tuple[str, int] | None  # (name, version) of the dataset version it read
    packages: str | None  # environment/packages.txt of the training run
    python: str | None
    versions: list[tuple[str, str]] = field(default_factory=list)  # model versions made from its training run

    def seeds(self, test_split_seed: int) -> dict[str, Any]:
        """The seeds the run used: the test split's and every parameter named like a seed."""
        found: dict[str, Any] = {"test_split.seed": test_split_seed}
        found.update({k: v for k, v in self.parameters.items() if "seed" in k.lower()})
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the file contents)."""
        return {
            "pipeline_run_id": self.pipeline_run_id,
            "training_run_id": self.training_run_id,
            "pipeline": self.pipeline_name,
            "env": self.env,
            "release": self.release,
            "commit": self.commit,
            "dirty": self.dirty,
            "notebook_hash": self.notebook_hash,
            "parameters": self.parameters,
            "data_source": self.data_source,
            "data_digest": self.data_digest,
            "dataset": list(self.dataset) if self.dataset else None,
            "versions": [list(v) for v in self.versions],
        }


def read(
    client: MlflowClient,
    model: str | None = None,
    version: str | int | None = None,
    run_id: str | None = None,
) -> Record:
    """The record of model `model` version `version`, or of the pipeline run (or step run) `run_id`."""
    if run_id:
        pipeline_run = _pipeline_run_of(client, run_id)
        training = reference.pipeline_step(pipeline_run.info.run_id, records.STEP_TRAINING, client=client)
        if training is None:
            raise NotFoundError(
                f"Pipeline run {pipeline_run.info.run_id} has no finished training step to reproduce.",
                hint="Reproduce a pipeline run that trained a model.",
            )
        versions = [
            (v.name, str(v.version))
            for v in client.search_model_versions(f"run_id = '{training.info.run_id}'")
        ]
        return _record(
            client,
            f"pipeline run {pipeline_run.info.run_id}",
            pipeline_run=pipeline_run,
            training=training,
            version_tags={},
            versions=versions,
        )
    if not model or version is None:
        raise UsageError("Name a model and its version, or a run.", hint="E.g. `reproduce iris --version 3`.")
    found = _get(
        lambda: client.get_model_version(model, str(version)), f"Version {version} of model {model!r}"
    )
    what = f"version {version} of {model}"
    tags = found.tags or {}
    if not found.run_id:
        raise NotFoundError(f"{what} has no source run: it has no record to reproduce.")
    training = _get(lambda: client.get_run(found.run_id), f"The training run {found.run_id} of {what}")
    pipeline_run_id = tags.get(records.TAG_PIPELINE_RUN) or training.data.tags.get(records.TAG_PIPELINE_RUN)
    if not pipeline_run_id:
        raise UsageError(
            f"{what} was trained interactively (run {found.run_id}), not by a pipeline run: reproduce "
            "re-runs pipelines.",
            hint="Run the notebook as a pipeline (mlops-nb run PIPELINE_FILE) and reproduce its version.",
        )
    pipeline_run = _get(
        lambda: client.get_run(pipeline_run_id), f"The pipeline run {pipeline_run_id} of {what}"
    )
    return _record(
        client,
        what,
        pipeline_run=pipeline_run,
        training=training,
        version_tags=tags,
        versions=[(model, str(version))],
    )


def _record(
    client: MlflowClient,
    what: str,
    *,
    pipeline_run: Run,
    training: Run,
    version_tags: dict[str, str],
    versions: list[tuple[str, str]],
) -> Record:
    tags, training_tags = pipeline_run.data.tags, training.data.tags
    pipeline_run_id = pipeline_run.info.run_id
    ingestion = reference.pipeline_step(pipeline_run_id, records.STEP_INGESTION, client=client)
    ingestion_tags = ingestion.data.tags if ingestion else {}
    dirty = training_tags.get(records.TAG_GIT_DIRTY) == "true"
    summary = _json(client, pipeline_run_id, records.ARTIFACT_PIPELINE_SUMMARY) or {}
    ingestion_details = next(
        (s.get("details", {}) for s in summary.get("steps", []) if s.get("name") == records.STEP_INGESTION),
        {},
    )
    environment = _json(client, training.info.run_id, records.ARTIFACT_ENVIRONMENT) or {}
    dataset = tags.get(records.TAG_DATASET_NAME) or ingestion_tags.get(records.TAG_DATASET_NAME)
    dataset_version = tags.get(records.TAG_DATASET_VERSION) or ingestion_tags.get(records.TAG_DATASET_VERSION)
    release = tags.get(records.TAG_RELEASE)
    info = pipeline_run.info
    return Record(
        what=what,
        pipeline_run_id=pipeline_run_id,
        training_run_id=training.info.run_id,
        ingestion_run_id=ingestion.info.run_id if ingestion else None,
        experiment=client.get_experiment(info.experiment_id).name,
        pipeline_name=tags.get(records.TAG_PIPELINE_NAME, ""),
        env=tags.get(records.TAG_PIPELINE_ENV) or None,
        pipeline_file=tags.get(records.TAG_PIPELINE_FILE, ""),
        pipeline_text=_pipeline_text(client, pipeline_run_id, what),
        release=None if release in (None, "", records.RELEASE_WORKING_COPY) else release,
        commit=version_tags.get(records.SOURCE_GIT_COMMIT) or training_tags.get(records.SOURCE_GIT_COMMIT),
        dirty=dirty,
        diff=_text(client, training.info.run_id, records.ARTIFACT_GIT_DIFF) if dirty else None,
        notebook_hash=version_tags.get(records.TAG_NOTEBOOK_HASH)
        or training_tags.get(records.TAG_NOTEBOOK_HASH),
        notebook_path=training_tags.get(records.TAG_NOTEBOOK_PATH),
        notebook_snapshot=training_tags.get(records.TAG_NOTEBOOK_SNAPSHOT),
        parameters=dict(pipeline_run.data.params),
        metrics=dict(pipeline_run.data.metrics),
        seconds=((info.end_time or info.start_time) - info.start_time) / 1000,
        data_source=tags.get(records.TAG_DATA_SOURCE),
        data_digest=tags.get(records.TAG_DATA_DIGEST),
        data_rows=tags.get(records.TAG_DATA_ROWS),
        watermark=tags.get(records.TAG_DATA_WATERMARK),
        watermark_after=_text_or_none(ingestion_details.get("watermark_after")),
        dataset=(dataset, int(dataset_version)) if dataset and dataset_version else None,
        packages=_text(client, training.info.run_id, records.ARTIFACT_PACKAGES),
        python=environment.get("python"),
        versions=versions,
    )


def _pipeline_run_of(client: MlflowClient, run_id: str) -> Run:
    run = _get(lambda: client.get_run(run_id), f"Run {run_id!r}")
    kind = run.data.tags.get(records.TAG_PIPELINE_KIND)
    if kind == records.PIPELINE_KIND_STEP:
        parent = run.data.tags.get(records.TAG_PIPELINE_RUN, "")
        return _get(lambda: client.get_run(parent), f"The pipeline run {parent} of step run {run_id}")
    if kind in (records.PIPELINE_KIND_PIPELINE, records.PIPELINE_KIND_REPRODUCTION):
        return run
    raise UsageError(
        f"Run {run_id} is not a pipeline run: reproduce re-runs pipelines.",
        hint="Pass the id of a pipeline run (or of one of its steps), or a model version.",
    )


def _pipeline_text(client: MlflowClient, run_id: str, what: str) -> str:
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder:
        try:
            local = Path(client.download_artifacts(run_id, records.ARTIFACT_PIPELINE_FILE_DIR, folder))
            files = [p for p in local.iterdir() if p.suffix.lower() in {".yaml", ".yml"}]
        except Exception:
            files = []
        if not files:
            raise NotFoundError(
                f"The pipeline run of {what} kept no copy of its pipeline file "
                f"({records.ARTIFACT_PIPELINE_FILE_DIR}/ artifact).",
                hint="Its artifacts were deleted; the run cannot be reproduced from its record.",
            )
        return files[0].read_text(encoding="utf-8")


def _text(client: MlflowClient, run_id: str, path: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder, contextlib.suppress(Exception):
        return Path(client.download_artifacts(run_id, path, folder)).read_text(encoding="utf-8")
    return None


def _json(client: MlflowClient, run_id: str, path: str) -> dict[str, Any] | None:
    with contextlib.suppress(Exception):
        return reference.load_json(client, run_id, path)
    return None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _get(action: Any, what: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return action()
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(
                f"{what} does not exist.", hint="Check the name, version or run id."
            ) from None
        raise StoreError(f"{what} could not be read: {exc}") from exc
