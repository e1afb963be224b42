"""``mlops-nb run``: one pipeline run, a parent MLflow run whose children are the steps.

Steps, in order: ingestion → data_validation → training → evaluation → model_validation →
registration. A step that fails marks itself and the pipeline run FAILED with the error (tags
``mlops_nb.error*``) and stops the run; the partial output notebook is kept as an artifact. Nothing
after an error can mark the pipeline run FINISHED: that happens once, after the last step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import config, records, store
from mlops_nb.exceptions import (
    ConfigError,
    GateFailedError,
    NotebookFailedError,
    NotFoundError,
    PipelineFailedError,
)
from mlops_nb.params_text import param_text
from mlops_nb.pipelines import evaluation as evaluation_mod
from mlops_nb.pipelines import progress as progress_mod
from mlops_nb.pipelines import source as source_mod
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.pipelines.execution import Execution, execute
from mlops_nb.pipelines.warm import WarmKernels, preload_modules

if TYPE_CHECKING:
    from mlflow import MlflowClient

STEPS = ("ingestion", "data_validation", "training", "evaluation", "model_validation", "registration")
DATA_PARAMETER = "data_path"


@dataclass
class StepResult:
    """One step as recorded."""

    name: str
    run_id: str | None = None
    status: str = "PENDING"  # FINISHED | FAILED | SKIPPED | KILLED
    seconds: float = 0.0
    error: str | None = None
    kind: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """What a pipeline run did; ``to_dict()`` is the ``--json`` summary."""

    pipeline: str
    run_id: str
    experiment_id: str
    env: str | None
    parameters: dict[str, Any]
    status: str = "RUNNING"
    steps: list[StepResult] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None
    training_run_id: str | None = None
    model_version: str | None = None
    error: str | None = None
    seconds: float = 0.0
    reports: dict[str, Any] = field(default_factory=dict, repr=False)  # gate name -> its report object

    def step(self, name: str) -> StepResult | None:
        """The recorded step called `name`."""
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the gate reports are in the step details and artifacts)."""
        summary = dataclasses.asdict(dataclasses.replace(self, reports={}))
        summary.pop("reports")
        return summary


@dataclass
class RunOptions:
    """How to run (the small settings object instead of many keyword arguments)."""

    env: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)  # raw -p strings or typed values
    register: bool = True  # False: registration deferred (a sweep registers its best point)
    progress: bool = True
    parent_run_id: str | None = None  # the sweep run, when part of a sweep
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    warm_dirs: list[str] | None = None  # kernel-spec folders of a running zygote (sweeps); None: start one
    use_warm: bool = True
    # A sweep reads the last watermark once for all its points (None: no earlier run), so that every point
    # trains on the same rows; False: each run reads it from the last successful run.
    fixed_watermark: bool = False
    watermark_after: str | None = None


def _settings_for(spec: spec_mod.PipelineSpec) -> config.Settings:
    settings = config.current()
    if spec.tracking_uri:
        settings = dataclasses.replace(
            settings, tracking_uri=config._resolve_uri(spec.tracking_uri, settings.root)
        )
    return settings


def resolve_parameters(
    spec: spec_mod.PipelineSpec, given: Mapping[str, Any], *, where: str = "-p"
) -> dict[str, Any]:
    """The typed values papermill will inject (without ``data_path``, which ingestion provides);
    errors name `where` the values came from."""
    if DATA_PARAMETER not in spec.contract.parameters:
        raise ConfigError(
            f"{spec.notebook.name} has no `{DATA_PARAMETER}` parameter: the pipeline cannot hand it data.",
            hint=f"Add `{DATA_PARAMETER}: str | None = None` to the parameters cell; read the Parquet file "
            "it names when set.",
        )
    if DATA_PARAMETER in given:
        raise ConfigError(
            f"`{DATA_PARAMETER}` is set by the pipeline's ingestion step.",
            hint="Change the data with `data.source` in the pipeline file (or its environment).",
        )
    values = spec.contract.values(given, where=where, check_required=False)
    missing = [
        p.name
        for p in spec.contract.parameters.values()
        if p.required and p.name not in given and p.name != DATA_PARAMETER
    ]
    if missing:
        spec.contract.resolve(given, where=where)  # raises the standard missing-parameter error
    values.pop(DATA_PARAMETER, None)
    return values


def use_store(settings: config.Settings) -> None:
    """Make MLflow's global URIs the pipeline's store: MLflow resolves ``models:/`` URIs through them."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our bars are the steps'
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)


class _Runner:
    """Executes the steps of one pipeline run."""

    def __init__(self, spec: spec_mod.PipelineSpec, options: RunOptions, values: dict[str, Any]) -> None:
        self.spec = spec
        self.options = options
        self.values = values
        self.settings = _settings_for(spec)
        self.client: MlflowClient = store.client(self.settings)
        use_store(self.settings)
        self.experiment_id = store.experiment_id(
            spec.experiment or self.settings.experiment or spec.name, self.settings
        )
        self.deadline = time.monotonic() + spec.timeouts.run if spec.timeouts.run else None
        self.workdir = Path(tempfile.mkdtemp(prefix="pipeline-"))
        self.state: dict[str, Any] = {}
        self.result: PipelineResult  # set in start()

    # --- recording ---------------------------------------------------------------------------------------

    def start(self) -> PipelineResult:
        spec = self.spec
        tags = {
            records.RUN_NAME: spec.name,
            records.TAG_MODE: records.MODE_PIPELINE,
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE,
            records.TAG_PIPELINE_NAME: spec.name,
            records.TAG_PIPELINE_FILE: str(spec.path),
            records.TAG_PIPELINE_ENV: spec.env or "",
            records.TAG_NOTEBOOK_PATH: str(spec.notebook),
            records.SOURCE_NAME: str(spec.path),
            **dict(self.options.extra_tags),
        }
        if self.options.parent_run_id:
            tags[records.PARENT_RUN_ID] = self.options.parent_run_id
        run = store.retrying(
            lambda: self.client.create_run(self.experiment_id, tags={k: v for k, v in tags.items() if v})
        )
        run_id = run.info.run_id
        self._log_params(run_id, self.values)
        self.client.log_artifact(run_id, str(spec.path), records.ARTIFACT_PIPELINE_FILE_DIR)
        self.result = PipelineResult(spec.name, run_id, self.experiment_id, spec.env, dict(self.values))
        return self.result

    def _log_params(self, run_id: str, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, param_text(v)) for k, v in values.items()]
        if params:
            store.retrying(lambda: self.client.log_batch(run_id, params=params))

    def _child(self, name: str, **tags: str) -> str:
        all_tags = {
            records.RUN_NAME: name,
            records.PARENT_RUN_ID: self.result.run_id,
            records.TAG_PIPELINE_RUN: self.result.run_id,
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
            records.TAG_PIPELINE_STEP: name,
            records.TAG_PIPELINE_NAME: self.spec.name,
            records.TAG_MODE: records.MODE_PIPELINE,
            **tags,
        }
        run = store.retrying(lambda: self.client.create_run(self.experiment_id, tags=all_tags))
        return run.info.run_id

    def _fail_run(self, run_id: str, error: str, kind: str, extra: Mapping[str, str] | None = None) -> None:
        from mlflow.entities import RunTag

        tags = {
            records.TAG_ERROR: error[:5000],
            records.TAG_ERROR_KIND: kind,
            records.NOTE: f"FAILED: {error}",
        }
        tags.update(extra or {})
        store.retrying(lambda: self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()]))
        store.retrying(lambda: self.client.set_terminated(run_id, "FAILED"))

    @contextlib.contextmanager
    def step(self, name: str, *, run_id: str | None = None) -> Iterator[StepResult]:
        """Record one step: its child run, timing and failure; a failure also fails the pipeline run."""
        self._check_deadline(name)
        result = StepResult(name, run_id or self._child(name))
        self.result.steps.append(result)
        started = time.monotonic()
        bar = self._bar(name)
        try:
            yield result
        except BaseException as exc:
            result.seconds = time.monotonic() - started
            result.status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            result.kind = getattr(exc, "kind", None) or (
                "gate" if isinstance(exc, GateFailedError) else "error"
            )
            result.error = str(exc) or type(exc).__name__
            extra = {}
            if isinstance(exc, NotebookFailedError):
                if exc.cell is not None:
                    extra[records.TAG_ERROR_CELL] = str(exc.cell)
                if exc.exit_code is not None:
                    extra[records.TAG_KERNEL_EXIT_CODE] = str(exc.exit_code)
            if result.status == "FAILED" and result.run_id:
                self._fail_run(result.run_id, result.error, result.kind, extra)
            elif result.run_id:
                store.retrying(lambda: self.client.set_terminated(result.run_id, "KILLED"))
            raise
        else:
            result.seconds = time.monotonic() - started
            result.status = "FINISHED"
            store.retrying(lambda: self.client.set_terminated(result.run_id, "FINISHED"))
        finally:
            if bar is not None:
                bar.update(bar.total - bar.n)
                bar.set_postfix_str(result.status.lower())
                bar.close()

    def _bar(self, name: str) -> Any:
        terminal = progress_mod.on_terminal()
        if not self.options.progress or (name == "training" and terminal):  # training: papermill's bar
            return None
        return progress_mod.bar(self._label(name), bar_format="{desc:<28} {bar:20} {postfix}", leave=True)

    def _label(self, name: str) -> str:
        return f"[{STEPS.index(name) + 1}/{len(STEPS)}] {name}"

    def _check_deadline(self, name: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise NotebookFailedError(
                f"The pipeline exceeded its whole-run timeout of {self.spec.timeouts.run:g} s before {name}",
                kind="timeout",
                hint="Raise `timeouts.run` in the pipeline file.",
            )

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.001)

    # --- steps --------------------------------------------------------------------------------------------

    def ingestion(self, step: StepResult) -> None:
        from mlops_nb.capture import data as capture_data

        data = self.spec.data
        if not data.watermark:
            after = None
        elif self.options.fixed_watermark:
            after = self.options.watermark_after
        else:
            after = last_watermark(self.client, self.experiment_id, self.spec.name)
        ingested = source_mod.ingest(
            data, self.spec.test_split, self.spec.target, self.workdir / "data", after=after
        )
        profile = capture_data.profile(
            ingested.data, name="ingested", context="training", digest=ingested.digest
        )
        run_id = step.run_id
        tags = {
            records.TAG_DATA_SOURCE: data.source,
            records.TAG_DATA_DIGEST: ingested.digest,
            records.TAG_DATA_ROWS: str(len(ingested.data)),
        }
        if ingested.watermark is not None:
            tags[records.TAG_DATA_WATERMARK] = str(ingested.watermark)
        self._set_tags(run_id, tags)
        self._set_tags(self.result.run_id, tags)
        self._log_dataset(run_id, ingested, profile)
        self.client.log_dict(run_id, profile, records.ARTIFACT_INGESTED_PROFILE)
        self.client.log_artifact(run_id, str(ingested.train_path), records.ARTIFACT_INGESTED_DIR)
        self.client.log_artifact(run_id, str(ingested.test_path), records.ARTIFACT_INGESTED_DIR)
        self._metrics(
            run_id,
            {"rows_read": ingested.rows_read, "rows": len(ingested.data), "files": len(ingested.files)},
        )
        step.details = {
            "rows": len(ingested.data),
            "rows_read": ingested.rows_read,
            "digest": ingested.digest,
            "watermark_after": after,
            "watermark": _plain(ingested.watermark),
            "files": [str(f) for f in ingested.files],
        }
        self.state.update(ingested=ingested, profile=profile)

    def _log_dataset(self, run_id: str, ingested: source_mod.Ingested, profile: dict[str, Any]) -> None:
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        from mlops_nb.capture import data as capture_data

        dataset = Dataset(
            name=f"{self.spec.name}-ingested",
            digest=ingested.digest,
            source_type="local",
            source=json.dumps({"uri": self.spec.data.source}),
            schema=json.dumps(capture_data.mlflow_schema(ingested.data)),
            profile=json.dumps({"num_rows": profile["num_rows"], "num_columns": profile["num_columns"]}),
        )
        tags = [InputTag(records.INPUT_CONTEXT, "training"), InputTag(records.INPUT_SPLIT, "ingested")]
        store.retrying(lambda: self.client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags)]))

    def data_validation(self, step: StepResult) -> None:
        from mlops_nb.gates.data import DataThresholds, validate_data

        thresholds = DataThresholds.from_dict(self.spec.data_gate)
        if self.spec.data.watermark:  # new rows are newer by construction: that column always "drifts"
            ignored = (*thresholds.ignore_columns, self.spec.data.watermark)
            thresholds = dataclasses.replace(thresholds, ignore_columns=ignored)
        reference, origin, source_columns = self._reference_profile()
        if reference is None:
            self._set_tags(step.run_id, {records.TAG_GATE_PASSED: "no_reference"})
            step.details = {"passed": True, "reference": None, "note": origin}
            return
        report = validate_data(self.state["profile"], reference, thresholds, source_columns=source_columns)
        self.result.reports["data"] = report
        report_dict = report.to_dict()
        report_dict["reference_source"] = origin
        self.client.log_dict(step.run_id, report_dict, records.ARTIFACT_DATA_REPORT)
        self.client.log_text(step.run_id, report.to_table(), "gates/data.txt")
        self._set_tags(step.run_id, {records.TAG_GATE_PASSED: str(report.passed).lower()})
        step.details = {"passed": report.passed, "reference": origin, "summary": report.summary()}
        if not report.passed:
            raise GateFailedError(
                f"Data gate failed against {origin}: {report.summary()}",
                hint="See the gates/data.json artifact; fix the data or the thresholds (gates.data).",
            )

    def training(self) -> None:
        """The training step, retried with backoff on the failure kinds the pipeline file names."""
        retries = self.spec.retries
        delay = retries.backoff
        for attempt in range(1, retries.attempts + 1):
            run_id = self._child("training", **{records.TAG_PIPELINE_ATTEMPT: str(attempt)})
            try:
                with self.step("training", run_id=run_id) as step:
                    self._train(step, attempt)
                return
            except NotebookFailedError as exc:
                if attempt == retries.attempts or exc.kind not in retries.when:
                    raise
                time.sleep(min(delay, self.remaining() or delay))
                delay *= 2

    def _train(self, step: StepResult, attempt: int) -> None:
        spec = self.spec
        output = self.workdir / f"output-{attempt}" / spec.notebook.name
        parameters = {**self.values, DATA_PARAMETER: str(self.state["ingested"].train_path)}
        env = {
            records.ENV_RUN_ID: step.run_id,
            records.ENV_NOTEBOOK: str(spec.notebook),
            records.ENV_PROJECT: str(self.settings.root),
            # A sweep shares one folder across its points; a lone run keeps its own (retries share it).
            records.ENV_REQUIREMENTS_CACHE: os.environ.get(records.ENV_REQUIREMENTS_CACHE)
            or str(self.workdir / "requirements"),
            "MLFLOW_TRACKING_URI": self.settings.tracking_uri,
        }
        if self.settings.registry_uri:
            env["MLFLOW_REGISTRY_URI"] = self.settings.registry_uri
        progress: bool | dict[str, Any] = (
            {"desc": self._label("training"), "leave": True}
            if self.options.progress and progress_mod.on_terminal()
            else False
        )
        self._log_params(step.run_id, {k: v for k, v in parameters.items() if k != DATA_PARAMETER})
        try:
            execute(
                Execution(
                    spec.notebook,
                    output,
                    parameters,
                    env,
                    cell_timeout=spec.timeouts.cell,
                    run_timeout=self.remaining(),
                    start_timeout=spec.timeouts.start,
                    kernel_name=spec.kernel,
                    warm_dirs=self.warm(),
                    progress=progress,
                )
            )
        finally:
            if output.is_file():
                self.client.log_artifact(step.run_id, str(output), records.ARTIFACT_OUTPUT_NOTEBOOK_DIR)
        self.result.training_run_id = step.run_id
        step.details = {
            "output_notebook": f"{records.ARTIFACT_OUTPUT_NOTEBOOK_DIR}/{output.name}",
            "attempt": attempt,
        }

    def evaluation(self, step: StepResult) -> None:
        model_id, location = evaluation_mod.model_uri_of_run(
            self.client, self.result.training_run_id or "", self.experiment_id
        )
        model_uri = f"models:/{model_id}"
        result = evaluation_mod.evaluate(
            location,
            self.state["ingested"].test_path,
            target=self.spec.target,
            task=self.spec.task,
            slice_column=self.spec.slice_column,
        )
        metrics = result.metrics()
        self._metrics(step.run_id, metrics)
        self._metrics(self.result.run_id, {k: v for k, v in metrics.items() if "." not in k})
        self.client.log_dict(
            step.run_id, {"model_uri": model_uri, **result.to_dict()}, records.ARTIFACT_EVALUATION
        )
        self.result.metrics = metrics
        self.result.model_uri = model_uri
        step.details = {
            "model_uri": model_uri,
            "rows": result.rows,
            "overall": result.overall,
            "slices": len(result.slices),
        }

    def model_validation(self, step: StepResult) -> None:
        from mlops_nb.gates.model import validate_model
        from mlops_nb.registry.register import champion_metrics

        baseline = champion_metrics(self.spec.model_name, client=self.client)
        report = validate_model(self.result.metrics, baseline, self.spec.model_gate)
        self.result.reports["model"] = report
        self.client.log_dict(step.run_id, report.to_dict(), records.ARTIFACT_MODEL_REPORT)
        self.client.log_text(step.run_id, report.to_table(), "gates/model.txt")
        self._set_tags(step.run_id, {records.TAG_GATE_PASSED: str(report.passed).lower()})
        step.details = {"passed": report.passed, "summary": report.summary(), "table": report.to_table()}
        if not report.passed:
            raise GateFailedError(
                f"Model gate failed: {report.summary()}",
                hint="See the gates/model.json artifact; the registry was not changed.",
            )

    def registration(self, step: StepResult) -> None:
        version = register_result(self.client, self.spec, self.result)
        self._set_tags(step.run_id, {records.TAG_MODEL_VERSION: str(version)})
        step.details = {"model": self.spec.model_name, "version": str(version)}

    # --- helpers --------------------------------------------------------------------------------------------

    def _metrics(self, run_id: str, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in values.items() if v is not None]
        for start in range(0, len(metrics), 500):
            chunk = metrics[start : start + 500]
            store.retrying(lambda chunk=chunk: self.client.log_batch(run_id, metrics=chunk))

    def _set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        store.retrying(
            lambda: self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        )

    def _previous_runs(self, max_results: int = 1) -> list[Any]:
        return _previous_runs(self.client, self.experiment_id, self.spec.name, max_results)

    def _reference_profile(self) -> tuple[dict[str, Any] | None, str, list[str]]:
        """The reference split profile, where it comes from, and the columns of the data it was drawn
        from (its pipeline run's ingested data; empty when it was not trained by a pipeline)."""
        from mlops_nb.registry.register import champion, champion_reference_split, split_profile

        reference = champion_reference_split(self.spec.model_name, client=self.client)
        if reference is not None:
            version = champion(self.spec.model_name, client=self.client)
            pipeline_run = ((version.tags or {}) if version else {}).get(records.TAG_PIPELINE_RUN)
            columns = self._ingested_columns(pipeline_run) if pipeline_run else []
            return reference, f"the training split of {self.spec.model_name}@champion", columns
        for run in self._previous_runs(1):
            pipeline_run = run.info.run_id
            training = self._step(pipeline_run, "training")
            split = None
            if training:
                with contextlib.suppress(NotFoundError):
                    split = split_profile(training.info.run_id, "train", client=self.client)
            if split is not None:
                columns = self._ingested_columns(pipeline_run)
                return split, f"the training split of the previous run {pipeline_run}", columns
            ingested = self._ingested_profile(pipeline_run)
            if ingested is not None:
                return ingested, f"the ingested data of the previous run {pipeline_run}", []
        return None, "no champion and no previous successful run: nothing to compare with", []

    def _ingested_columns(self, pipeline_run_id: str) -> list[str]:
        """The columns of the data a pipeline run ingested ([] when unknown)."""
        return [str(name) for name in (self._ingested_profile(pipeline_run_id) or {}).get("columns", {})]

    def _ingested_profile(self, pipeline_run_id: str) -> dict[str, Any] | None:
        ingestion = self._step(pipeline_run_id, "ingestion")
        if ingestion is not None:
            with contextlib.suppress(Exception):
                return _load_json(self.client, ingestion.info.run_id, records.ARTIFACT_INGESTED_PROFILE)
        return None

    def _step(self, pipeline_run_id: str, step: str) -> Any:
        from mlops_nb.registry.register import pipeline_step

        with contextlib.suppress(Exception):  # a deleted pipeline run has no steps to read
            return pipeline_step(pipeline_run_id, step, client=self.client)
        return None

    def warm(self) -> list[str] | None:
        """Kernel-spec folders of the warm-kernel zygote; None for a cold kernel (a `kernel:` is named)."""
        return self.options.warm_dirs if self.options.use_warm and not self.spec.kernel else None

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _previous_runs(client: MlflowClient, experiment_id: str, name: str, max_results: int) -> list[Any]:
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
    for run in _previous_runs(client, experiment_id, name, 5):
        if records.TAG_DATA_WATERMARK in run.data.tags:
            return run.data.tags[records.TAG_DATA_WATERMARK]
    return None


def _load_json(client: MlflowClient, run_id: str, path: str) -> dict[str, Any]:
    import json

    with tempfile.TemporaryDirectory() as folder:
        local = client.download_artifacts(run_id, path, folder)
        return json.loads(Path(local).read_text(encoding="utf-8"))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# What a pipeline's steps import: the modules of the zygote that forks a sweep's step runners.
# nbformat first: its jsonschema import builds ~30 Earley parsers (rfc3987-syntax), which took 6 s instead
# of 0.7 s when imported after MLflow and pandas (measured: the zygote's first fork came 5 s later).
RUNNER_MODULES = (
    "nbformat",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "pandas",
    "mlops_nb.capture.data",
    "mlops_nb.pipelines.run",
    "mlops_nb.pipelines.sweep",
    "mlops_nb.gates.data",
    "mlops_nb.gates.model",
    "mlops_nb.registry.register",
    "papermill",
    "nbclient",
    "jupyter_client.manager",
    "pyarrow.parquet",
    "sklearn.metrics",
    "sklearn.model_selection",
)


def notebook_modules(spec: spec_mod.PipelineSpec) -> list[str]:
    """Modules for the warm-kernel zygote: the notebook's imports (see `preload_modules`)."""
    from mlops_nb.pipelines.parameters import read_notebook

    nb = read_notebook(spec.notebook)
    return preload_modules(c.source for c in nb.cells if c.cell_type == "code")


def register_result(client: MlflowClient, spec: spec_mod.PipelineSpec, result: PipelineResult) -> str:
    """Register the model of a pipeline run (alias challenger); the registry adds the run's lineage tags."""
    from mlops_nb.registry.register import register

    ingestion = result.step("ingestion")
    tags = {
        records.TAG_PIPELINE_RUN: result.run_id,
        records.TAG_PIPELINE_NAME: spec.name,
        records.dataset_digest_tag("ingested"): ingestion.details.get("digest", "") if ingestion else "",
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


def register_deferred(
    client: MlflowClient, spec: spec_mod.PipelineSpec, result: PipelineResult | None
) -> str:
    """Registration step of a finished pipeline run whose registration a sweep deferred to its end."""
    if result is None or result.training_run_id is None or result.model_uri is None:
        raise PipelineFailedError("The best point has no model to register.")
    run = store.retrying(
        lambda: client.create_run(
            result.experiment_id,
            tags={
                records.RUN_NAME: "registration",
                records.PARENT_RUN_ID: result.run_id,
                records.TAG_PIPELINE_RUN: result.run_id,
                records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
                records.TAG_PIPELINE_STEP: "registration",
                records.TAG_PIPELINE_NAME: spec.name,
                records.TAG_MODE: records.MODE_PIPELINE,
            },
        )
    )
    run_id = run.info.run_id
    try:
        version = register_result(client, spec, result)
    except BaseException as exc:
        client.set_tag(run_id, records.TAG_ERROR, str(exc)[:5000])
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_tag(run_id, records.TAG_MODEL_VERSION, version)
    client.set_terminated(run_id, "FINISHED")
    client.set_tag(result.run_id, records.TAG_PIPELINE_REGISTRATION, "registered")
    return version


def run(path: str | Path | spec_mod.PipelineSpec, options: RunOptions | None = None) -> PipelineResult:
    """Run a pipeline file; returns the result, or raises PipelineFailedError carrying it.

    With warm kernels (the default), a zygote starts importing the notebook's heavy modules at once, on
    the other core, while this process runs ingestion and data validation; the training kernel is then
    forked from it, warm.
    """
    options = options or RunOptions()
    spec = path if isinstance(path, spec_mod.PipelineSpec) else spec_mod.load(path)
    spec = spec.for_env(options.env) if options.env else spec
    values = resolve_parameters(spec, options.parameters)  # bad parameters fail here, before any run
    if options.use_warm and options.warm_dirs is None and not spec.kernel:
        warm = WarmKernels(notebook_modules(spec))
        try:
            return _run_steps(spec, dataclasses.replace(options, warm_dirs=warm.kernel_dirs), values)
        finally:
            warm.close()
    return _run_steps(spec, options, values)


def _run_steps(spec: spec_mod.PipelineSpec, options: RunOptions, values: dict[str, Any]) -> PipelineResult:
    """The pipeline run itself: parent run, steps in order, final status."""
    runner = _Runner(spec, options, values)
    started = time.monotonic()
    result = runner.start()
    try:
        for name in STEPS:
            if name == "registration" and not options.register:
                result.steps.append(
                    StepResult(name, status="SKIPPED", details={"reason": "deferred to the sweep"})
                )
                runner._set_tags(result.run_id, {records.TAG_PIPELINE_REGISTRATION: "deferred"})
                continue
            if name == "training":
                runner.training()
                continue
            with runner.step(name) as step:
                getattr(runner, name)(step)
    except BaseException as exc:
        result.seconds = time.monotonic() - started
        failed = next((s for s in reversed(result.steps) if s.status in {"FAILED", "KILLED"}), None)
        result.status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        result.error = f"{failed.name}: {failed.error}" if failed else f"{type(exc).__name__}: {exc}"
        if result.status == "FAILED":
            runner._fail_run(result.run_id, result.error, failed.kind if failed and failed.kind else "error")
        else:
            store.retrying(lambda: runner.client.set_terminated(result.run_id, "KILLED"))
        runner.client.log_dict(result.run_id, result.to_dict(), records.ARTIFACT_PIPELINE_SUMMARY)
        runner.close()
        if isinstance(exc, KeyboardInterrupt):
            raise
        hint = getattr(exc, "hint", None)
        where = result.error.removesuffix(f" {hint}") if hint else result.error  # the hint once, at the end
        raise PipelineFailedError(
            f"Pipeline {spec.name} failed at {where}", result=result, hint=hint
        ) from exc
    if options.register:
        runner._set_tags(result.run_id, {records.TAG_PIPELINE_REGISTRATION: "registered"})
    result.seconds = time.monotonic() - started
    result.status = "FINISHED"
    runner.client.log_dict(result.run_id, result.to_dict(), records.ARTIFACT_PIPELINE_SUMMARY)
    store.retrying(lambda: runner.client.set_terminated(result.run_id, "FINISHED"))
    runner.close()
    return result


def render(result: PipelineResult) -> str:
    """A readable summary table of a pipeline result."""
    lines = [f"pipeline {result.pipeline}  run {result.run_id}  {result.status}  ({result.seconds:.1f} s)"]
    width = max(len(s) for s in STEPS)
    for s in result.steps:
        note = s.error or ", ".join(
            f"{k}={v}"
            for k, v in s.details.items()
            if k in {"rows", "passed", "version", "model_uri", "attempt"}
        )
        lines.append(f"  {s.name:<{width}}  {s.status:<8}  {s.seconds:6.1f} s  {note}")
    if result.metrics:
        shown = {k: v for k, v in result.metrics.items() if "." not in k}
        lines.append("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    gate = result.step("model_validation")
    if gate is not None and gate.details.get("table"):
        lines.append("  model gate:")
        lines.extend("    " + line for line in str(gate.details["table"]).splitlines())
    if result.model_version:
        lines.append(f"  registered version {result.model_version} (alias challenger)")
    return "\n".join(lines)
