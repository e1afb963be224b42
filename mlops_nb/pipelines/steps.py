"""The steps of a pipeline run, in order: one object each, with its name and its run function.

ingestion → data_validation → training → evaluation → model_validation → registration. A step's run
function gets the runner (the pipeline run: its store, spec and state) and its StepResult to fill in;
it raises to fail. Policies belong to the step: training is retried as the pipeline file's `retries`
say; registration can be deferred (a sweep registers its best point) and runs with signals held.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import GateFailedError
from mlops_nb.pipelines import evaluation as evaluation_mod
from mlops_nb.pipelines import progress as progress_mod
from mlops_nb.pipelines import reference
from mlops_nb.pipelines import source as source_mod
from mlops_nb.pipelines.execution import Execution, execute

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_nb.pipelines.results import PipelineResult, StepResult
    from mlops_nb.pipelines.run import Runner
    from mlops_nb.pipelines.spec import PipelineSpec, Retries

DATA_PARAMETER = records.PARAM_DATA_PATH


@dataclass(frozen=True)
class Step:
    """One step of a pipeline run and its policies."""

    name: str
    run: Callable[[Runner, StepResult], None]
    retries: Callable[[PipelineSpec], Retries] | None = None  # the retry policy; None: one attempt
    deferrable: bool = False  # left to the caller (a sweep) when RunOptions.register is False
    critical: bool = False  # SIGINT/SIGTERM wait until the pipeline run is recorded complete or failed
    own_progress: bool = False  # shows its own progress bar (papermill's, per cell)


def _ingestion(runner: Runner, step: StepResult) -> None:
    from mlops_nb.capture import profile as capture_profile

    spec, client = runner.spec, runner.client
    data, snapshot = spec.data, runner.options.snapshot
    if snapshot is not None:  # a reproduction: the rows an earlier ingestion kept, as it split them
        after = snapshot.watermark_after
        ingested = snapshot.ingest(runner.workdir / "data")
    else:
        if not data.watermark:
            after = None
        elif runner.options.fixed_watermark:
            after = runner.options.watermark_after
        else:
            after = reference.last_watermark(client, runner.experiment_id, spec.name)
        ingested = source_mod.ingest(data, spec.test_split, spec.target, runner.workdir / "data", after=after)
    source = snapshot.source if snapshot is not None else data.source
    profile = capture_profile.profile(
        ingested.data, name="ingested", context="training", digest=ingested.digest
    )
    run_id = step.run_id or ""
    tags = {
        records.TAG_DATA_SOURCE: source,
        records.TAG_DATA_DIGEST: ingested.digest,
        records.TAG_DATA_ROWS: str(len(ingested.data)),
    }
    if ingested.watermark is not None:
        tags[records.TAG_DATA_WATERMARK] = str(ingested.watermark)
    runner.gateway.set_tags(run_id, tags)
    runner.gateway.set_tags(runner.result.run_id, tags)
    _log_dataset(runner.gateway, run_id, ingested, profile, name=spec.name, source=source)
    if ingested.dataset is not None:  # the dataset version read: lineage tags and input, on both runs
        from mlops_nb.datasets import reading

        for recorded in (run_id, runner.result.run_id):
            reading.record(runner.gateway, recorded, ingested.dataset, ingested.data)
    runner.gateway.log_dict(run_id, profile, records.ARTIFACT_INGESTED_PROFILE)
    runner.gateway.log_artifact(run_id, ingested.train_path, records.ARTIFACT_INGESTED_DIR)
    runner.gateway.log_artifact(run_id, ingested.test_path, records.ARTIFACT_INGESTED_DIR)
    runner.gateway.log_metrics(
        run_id, {"rows_read": ingested.rows_read, "rows": len(ingested.data), "files": len(ingested.files)}
    )
    step.details = {
        "rows": len(ingested.data),
        "rows_read": ingested.rows_read,
        "digest": ingested.digest,
        "watermark_after": after,
        "watermark": _plain(ingested.watermark),
        "files": [str(f) for f in ingested.files],
        "dataset": ingested.dataset.ref if ingested.dataset is not None else None,
    }
    runner.state.update(ingested=ingested, profile=profile)


def _log_dataset(
    gateway: store.Writer,
    run_id: str,
    ingested: source_mod.Ingested,
    profile: dict[str, Any],
    *,
    name: str,
    source: str,
) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from mlops_nb.capture import profile as capture_profile

    dataset = Dataset(
        name=f"{name}-ingested",
        digest=ingested.digest,
        source_type="local",
        source=json.dumps({"uri": source}),
        schema=json.dumps(capture_profile.mlflow_schema(ingested.data)),
        profile=json.dumps({"num_rows": profile["num_rows"], "num_columns": profile["num_columns"]}),
    )
    tags = [InputTag(records.INPUT_CONTEXT, "training"), InputTag(records.INPUT_SPLIT, "ingested")]
    gateway.log_inputs(run_id, [DatasetInput(dataset, tags)])


def _data_validation(runner: Runner, step: StepResult) -> None:
    from mlops_nb.gates.data import DataThresholds, validate_data

    spec, client, run_id = runner.spec, runner.client, step.run_id or ""
    thresholds = DataThresholds.from_dict(spec.data_gate)
    if spec.data.watermark:  # new rows are newer by construction: that column always "drifts"
        ignored = (*thresholds.ignore_columns, spec.data.watermark)
        thresholds = dataclasses.replace(thresholds, ignore_columns=ignored)
    profile, origin, source_columns = reference.reference_profile(client, spec, runner.experiment_id)
    if profile is None:
        runner.gateway.set_tags(run_id, {records.TAG_GATE_PASSED: records.GATE_NO_REFERENCE})
        step.details = {"passed": True, "reference": None, "note": origin}
        return
    report = validate_data(runner.state["profile"], profile, thresholds, source_columns=source_columns)
    runner.result.reports["data"] = report
    report_dict = report.to_dict()
    report_dict["reference_source"] = origin
    runner.gateway.log_dict(run_id, report_dict, records.ARTIFACT_DATA_REPORT)
    runner.gateway.log_text(run_id, report.to_table(), records.ARTIFACT_DATA_REPORT_TEXT)
    runner.gateway.set_tags(run_id, {records.TAG_GATE_PASSED: str(report.passed).lower()})
    step.details = {"passed": report.passed, "reference": origin, "summary": report.summary()}
    if not report.passed and runner.options.enforce_gates:
        raise GateFailedError(
            f"Data gate failed against {origin}: {report.summary()}",
            hint="See the gates/data.json artifact; fix the data or the thresholds (gates.data).",
        )


def _training(runner: Runner, step: StepResult) -> None:
    """One attempt at executing the notebook on the ingested training data."""
    spec, settings, run_id = runner.spec, runner.settings, step.run_id or ""
    attempt = sum(1 for s in runner.result.steps if s.name == step.name)
    output = runner.workdir / f"output-{attempt}" / spec.notebook.name
    parameters = {**runner.values, DATA_PARAMETER: str(runner.state["ingested"].train_path)}
    env = {
        records.ENV_RUN_ID: run_id,
        records.ENV_NOTEBOOK: str(spec.notebook),
        records.ENV_PROJECT: str(settings.root),
        # A sweep shares one folder across its points; a lone run keeps its own (retries share it).
        records.ENV_REQUIREMENTS_CACHE: os.environ.get(records.ENV_REQUIREMENTS_CACHE)
        or str(runner.workdir / "requirements"),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
    }
    if settings.registry_uri:
        env["MLFLOW_REGISTRY_URI"] = settings.registry_uri
    progress: bool | dict[str, Any] = (
        {"desc": runner.label(step.name), "leave": True}
        if runner.options.progress and progress_mod.on_terminal()
        else False
    )
    runner.gateway.log_params(run_id, {k: v for k, v in parameters.items() if k != DATA_PARAMETER})
    runner.gateway.set_tags(run_id, {records.TAG_PARAMS_USER: json.dumps(sorted(runner.values))})
    try:
        execute(
            Execution(
                spec.notebook,
                output,
                parameters,
                env,
                cell_timeout=spec.timeouts.cell,
                run_timeout=runner.remaining(),
                start_timeout=spec.timeouts.start,
                kernel_name=spec.kernel,
                warm_dirs=runner.warm(),
                progress=progress,
                cancel=runner.options.cancel,
            )
        )
    finally:
        if output.is_file():
            runner.gateway.log_artifact(run_id, output, records.ARTIFACT_OUTPUT_NOTEBOOK_DIR)
    runner.result.training_run_id = run_id
    step.details = {
        "output_notebook": f"{records.ARTIFACT_OUTPUT_NOTEBOOK_DIR}/{output.name}",
        "attempt": attempt,
    }


def holdout_name(pipeline: str) -> str:
    """The dataset name evaluation's metrics are linked to: the test rows ingestion held out."""
    return f"{pipeline}-holdout"


def _holdout_input(pipeline: str, digest: str, rows: int, path: Path) -> Any:
    """The held-out test rows as an MLflow dataset input (context testing) of the runs evaluation scores."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(
        name=holdout_name(pipeline),
        digest=digest,
        source_type="local",
        source=json.dumps({"uri": str(path)}),
        profile=json.dumps({"num_rows": rows}),
    )
    tags = [InputTag(records.INPUT_CONTEXT, "testing"), InputTag(records.INPUT_SPLIT, "holdout")]
    return DatasetInput(dataset, tags)


def _evaluation(runner: Runner, step: StepResult) -> None:
    spec, client, run_id = runner.spec, runner.client, step.run_id or ""
    model_id, location = evaluation_mod.model_uri_of_run(
        client, runner.result.training_run_id or "", runner.experiment_id
    )
    model_uri = f"models:/{model_id}"
    result = evaluation_mod.evaluate(
        location,
        runner.state["ingested"].test_path,
        target=spec.target,
        task=spec.task,
        slice_column=spec.slice_column,
    )
    metrics = result.metrics()
    scored_on = {
        "model_id": model_id,
        "dataset_name": holdout_name(spec.name),
        "dataset_digest": result.digest,
    }
    holdout = _holdout_input(spec.name, result.digest, result.rows, runner.state["ingested"].test_path)
    for scored_run in (run_id, runner.result.run_id):
        runner.gateway.log_inputs(scored_run, [holdout])
    runner.gateway.log_metrics(run_id, metrics, **scored_on)
    overall = {k: v for k, v in metrics.items() if "." not in k}
    runner.gateway.log_metrics(runner.result.run_id, overall, **scored_on)
    runner.gateway.log_dict(run_id, {"model_uri": model_uri, **result.to_dict()}, records.ARTIFACT_EVALUATION)
    runner.result.metrics = metrics
    runner.result.model_uri = model_uri
    step.details = {
        "model_uri": model_uri,
        "rows": result.rows,
        "overall": result.overall,
        "slices": len(result.slices),
    }


def _model_validation(runner: Runner, step: StepResult) -> None:
    from mlops_nb.gates.model import validate_model
    from mlops_nb.registry.promotion import alias_for
    from mlops_nb.registry.register import champion, champion_metrics

    spec, client, run_id = runner.spec, runner.client, step.run_id or ""
    alias = alias_for(records.ALIAS_CHAMPION, spec.env)  # the environment's champion, when run in one
    holder = champion(spec.model_name, alias=alias, client=client)
    baseline = champion_metrics(spec.model_name, alias=alias, client=client)
    report = validate_model(runner.result.metrics, baseline, spec.model_gate)
    runner.result.reports["model"] = report
    runner.gateway.log_dict(run_id, report.to_dict(), records.ARTIFACT_MODEL_REPORT)
    runner.gateway.log_text(run_id, report.to_table(), records.ARTIFACT_MODEL_REPORT_TEXT)
    runner.gateway.set_tags(run_id, {records.TAG_GATE_PASSED: str(report.passed).lower()})
    step.details = {
        "passed": report.passed,
        "summary": report.summary(),
        "table": report.to_table(),
        records.GATE_CHAMPION: str(holder.version) if holder else records.NO_CHAMPION,
    }
    if not report.passed and runner.options.enforce_gates:
        raise GateFailedError(
            f"Model gate failed: {report.summary()}",
            hint="See the gates/model.json artifact; the registry was not changed.",
        )


def _registration(runner: Runner, step: StepResult) -> None:
    version = register_result(runner.client, runner.spec, runner.result)
    runner.gateway.set_tags(step.run_id or "", {records.TAG_MODEL_VERSION: str(version)})
    step.details = {"model": runner.spec.model_name, "version": str(version)}


def register_result(client: MlflowClient, spec: PipelineSpec, result: PipelineResult) -> str:
    """Register the model of a pipeline run (alias challenger); the registry adds the run's lineage tags."""
    from mlops_nb.registry.register import register

    ingestion = result.step(records.STEP_INGESTION)
    validation = result.step(records.STEP_MODEL_VALIDATION)
    tags = {
        records.TAG_PIPELINE_RUN: result.run_id,
        records.TAG_PIPELINE_NAME: spec.name,
        records.dataset_digest_tag("ingested"): ingestion.details.get("digest", "") if ingestion else "",
        # the champion the model gate compared with: promotion scores both again if it has changed since
        records.gate_tag("model", records.GATE_CHAMPION): validation.details.get(records.GATE_CHAMPION, "")
        if validation
        else "",
    }
    version = register(
        result.training_run_id or "",
        result.model_uri or "",
        spec.model_name,
        tags={k: v for k, v in tags.items() if v},
        gates=result.reports,
        client=client,
    )
    result.model_version = str(version.version)
    return result.model_version


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


STEPS: tuple[Step, ...] = (
    Step(records.STEP_INGESTION, _ingestion),
    Step(records.STEP_DATA_VALIDATION, _data_validation),
    Step(records.STEP_TRAINING, _training, retries=lambda spec: spec.retries, own_progress=True),
    Step(records.STEP_EVALUATION, _evaluation),
    Step(records.STEP_MODEL_VALIDATION, _model_validation),
    Step(records.STEP_REGISTRATION, _registration, deferrable=True, critical=True),
)
