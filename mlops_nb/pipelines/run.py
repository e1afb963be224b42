"""``mlops-nb run``: one pipeline run, a parent MLflow run whose children are the steps.

The runner records the pipeline run and runs the steps of `steps.STEPS` in order, applying each step's
policies (retries, deferral, signals held). A step that fails marks itself and the pipeline run FAILED
with the error (tags ``mlops_nb.error*``) and stops the run; the partial output notebook is kept as an
artifact. Nothing after an error can mark the pipeline run FINISHED: that happens once, after the last
step. An interruption (Ctrl-C, SIGTERM) marks them KILLED; the registration step and the recording of
the outcome run with signals held, so a second signal cannot leave either half-written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
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
    PipelineFailedError,
)
from mlops_nb.interrupts import deferred_signals
from mlops_nb.pipelines import naming
from mlops_nb.pipelines import progress as progress_mod
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.pipelines.cancel import Cancellation
from mlops_nb.pipelines.results import PipelineResult, StepResult
from mlops_nb.pipelines.steps import DATA_PARAMETER, STEPS, Step, register_result
from mlops_nb.pipelines.warm import WarmKernels, preload_modules

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_nb.pipelines.recorded_data import DataSnapshot


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
    cancel: Cancellation | None = None  # a sweep point's: stops the run from another thread
    # A reproduction's: the train and test rows an earlier ingestion kept, ingested instead of the data source.
    snapshot: DataSnapshot | None = None
    enforce_gates: bool = True  # False: a failed gate is recorded but does not stop the run (a reproduction)


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


class Runner:
    """Records one pipeline run and runs its steps; the steps read and write through it."""

    def __init__(self, spec: spec_mod.PipelineSpec, options: RunOptions, values: dict[str, Any]) -> None:
        self.spec = spec
        self.options = options
        self.values = values
        self.settings = _settings_for(spec)
        self.client: MlflowClient = store.client(self.settings)
        self.gateway = store.Writer(self.client)
        use_store(self.settings)
        self.experiment_id = store.experiment_id(
            spec.experiment or self.settings.experiment or spec.name, self.settings
        )
        self.deadline = time.monotonic() + spec.timeouts.run if spec.timeouts.run else None
        self.code = {  # the code version, on the pipeline run and each step run
            **naming.code_version(
                spec.notebook, options.extra_tags.get(records.TAG_RELEASE), spec.name, self.settings
            ),
            records.TAG_PIPELINE_METRIC: spec.metric,
        }
        self.workdir = Path(tempfile.mkdtemp(prefix="pipeline-"))
        self.state: dict[str, Any] = {}
        self.started = time.monotonic()
        self._result: PipelineResult | None = None

    @property
    def result(self) -> PipelineResult:
        """The pipeline run's result (once `start()` has opened the run)."""
        if self._result is None:
            raise RuntimeError("The pipeline run is not open yet: call start() first.")
        return self._result

    # --- the pipeline run ---------------------------------------------------------------------------------

    def start(self) -> PipelineResult:
        """Open the pipeline run (its result exists as soon as the run does, so it can be marked)."""
        spec = self.spec
        tags = {
            records.RUN_NAME: self.name(),
            records.TAG_MODE: records.MODE_PIPELINE,
            records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_PIPELINE,
            records.TAG_PIPELINE_NAME: spec.name,
            records.TAG_PIPELINE_FILE: str(spec.path),
            records.TAG_PIPELINE_ENV: spec.env or "",
            records.TAG_NOTEBOOK_PATH: str(spec.notebook),
            records.SOURCE_NAME: str(spec.path),
            records.TAG_PARAMS_USER: json.dumps(sorted(self.values)),
            **self.code,
            **dict(self.options.extra_tags),
        }
        if self.options.parent_run_id:
            tags[records.PARENT_RUN_ID] = self.options.parent_run_id
        with deferred_signals():
            run = self.gateway.create_run(self.experiment_id, tags)
            self._result = PipelineResult(
                spec.name, run.info.run_id, self.experiment_id, spec.env, dict(self.values)
            )
        self.gateway.log_params(self.result.run_id, self.values)
        self.gateway.log_artifact(self.result.run_id, spec.path, records.ARTIFACT_PIPELINE_FILE_DIR)
        return self.result

    def run_steps(self) -> None:
        """Every step in order; the registration step and what follows hold signals until recorded."""
        with contextlib.ExitStack() as held:
            for step in STEPS:
                if step.deferrable and not self.options.register:
                    self.result.steps.append(
                        StepResult(step.name, status="SKIPPED", details={"reason": "deferred to the sweep"})
                    )
                    self.gateway.set_tags(
                        self.result.run_id, {records.TAG_PIPELINE_REGISTRATION: records.REGISTRATION_DEFERRED}
                    )
                    continue
                if step.critical:
                    held.enter_context(deferred_signals())
                self.run_step(step)
            self.finish()

    def run_step(self, step: Step) -> None:
        """One step, with another attempt (after a backoff) on the failure kinds its retry policy names."""
        policy = step.retries(self.spec) if step.retries else None
        attempts = policy.attempts if policy else 1
        delay = policy.backoff if policy else 0.0
        for attempt in range(1, attempts + 1):
            tags = {records.TAG_PIPELINE_ATTEMPT: str(attempt)} if policy else {}
            try:
                with self.step(step, tags) as result:
                    step.run(self, result)
                return
            except NotebookFailedError as exc:
                if policy is None or attempt == attempts or exc.kind not in policy.when:
                    raise
                time.sleep(min(delay, self.remaining() or delay))
                delay *= 2

    def finish(self) -> None:
        """Mark the pipeline run FINISHED, with its summary."""
        result = self.result
        if self.options.register:
            self.gateway.set_tags(
                result.run_id, {records.TAG_PIPELINE_REGISTRATION: records.REGISTRATION_DONE}
            )
        result.seconds = time.monotonic() - self.started
        result.status = "FINISHED"
        self.gateway.log_dict(result.run_id, result.to_dict(), records.ARTIFACT_PIPELINE_SUMMARY)
        self.gateway.end_run(result.run_id, "FINISHED")

    def fail(self, exc: BaseException) -> None:
        """Mark the pipeline run KILLED (an interruption) or FAILED with the error of its failed step."""
        result = self.result
        result.seconds = time.monotonic() - self.started
        failed = next((s for s in reversed(result.steps) if s.status in {"FAILED", "KILLED"}), None)
        result.status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        result.error = f"{failed.name}: {failed.error}" if failed else f"{type(exc).__name__}: {exc}"
        if result.status == "FAILED":
            self._fail_run(result.run_id, result.error, failed.kind if failed and failed.kind else "error")
        else:
            self.gateway.end_run(result.run_id, "KILLED")
        self.gateway.log_dict(result.run_id, result.to_dict(), records.ARTIFACT_PIPELINE_SUMMARY)

    # --- step runs ------------------------------------------------------------------------------------------

    def name(self) -> str:
        """The pipeline run's name: the pipeline and the parameters its file, the command line or the sweep
        point set (``train_classifier alpha=0.001 epochs=10``)."""
        point = tuple(json.loads(self.options.extra_tags.get(records.TAG_SWEEP_POINT, "{}")))
        given = {*point, *self.options.parameters, *self.spec.overridden}
        shown = {k: v for k, v in self.values.items() if k in given}
        return naming.run_name(self.spec.name, shown, first=point)

    def _child(self, name: str, tags: Mapping[str, str]) -> str:
        step = step_tags(self.spec.name, self.result.run_id, name)
        run = self.gateway.create_run(self.experiment_id, {**step, **self.code, **tags})
        return run.info.run_id

    def _fail_run(self, run_id: str, error: str, kind: str, extra: Mapping[str, str] | None = None) -> None:
        tags = {records.TAG_ERROR_KIND: kind, records.NOTE: f"FAILED: {error}", **(extra or {})}
        self.gateway.fail_run(run_id, error, tags)

    @contextlib.contextmanager
    def step(self, step: Step, tags: Mapping[str, str]) -> Iterator[StepResult]:
        """Record one step: its child run, timing and failure; a failure also fails the pipeline run."""
        name = step.name
        self._check_deadline(name)
        if self.options.cancel is not None:
            self.options.cancel.check(name)
        result = StepResult(name, self._child(name, tags))
        self.result.steps.append(result)
        started = time.monotonic()
        bar = self._bar(step)
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
            with deferred_signals():  # a second signal cannot cut the recording short
                if result.status == "FAILED" and result.run_id:
                    self._fail_run(result.run_id, result.error, result.kind, extra)
                elif result.run_id:
                    self.gateway.end_run(result.run_id, "KILLED")
            raise
        else:
            result.seconds = time.monotonic() - started
            result.status = "FINISHED"
            self.gateway.end_run(result.run_id, "FINISHED")
        finally:
            if bar is not None:
                bar.update(bar.total - bar.n)
                bar.set_postfix_str(result.status.lower())
                bar.close()

    def _bar(self, step: Step) -> Any:
        """The step's progress bar (one line when there is no terminal); None where the step shows its own."""
        if not self.options.progress or (step.own_progress and progress_mod.on_terminal()):
            return None
        return progress_mod.bar(self.label(step.name), bar_format="{desc:<28} {bar:20} {postfix}", leave=True)

    def label(self, name: str) -> str:
        """The step's place in the run, e.g. ``[3/6] training``."""
        names = [step.name for step in STEPS]
        return f"[{names.index(name) + 1}/{len(names)}] {name}"

    def _check_deadline(self, name: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise NotebookFailedError(
                f"The pipeline exceeded its whole-run timeout of {self.spec.timeouts.run:g} s before {name}",
                kind="timeout",
                hint="Raise `timeouts.run` in the pipeline file.",
            )

    def remaining(self) -> float | None:
        """Seconds left of the whole-run timeout (None: no timeout)."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.001)

    # --- writes the steps share ------------------------------------------------------------------------------

    def warm(self) -> list[str] | None:
        """Kernel-spec folders of the warm-kernel zygote; None for a cold kernel (a `kernel:` is named)."""
        return self.options.warm_dirs if self.options.use_warm and not self.spec.kernel else None

    def close(self) -> None:
        """Remove the run's working folder."""
        shutil.rmtree(self.workdir, ignore_errors=True)


def step_tags(pipeline: str, pipeline_run_id: str, step: str) -> dict[str, str]:
    """The tags of the run of `step` in a pipeline run."""
    return {
        records.RUN_NAME: naming.step_name(pipeline, step),
        records.PARENT_RUN_ID: pipeline_run_id,
        records.TAG_PIPELINE_RUN: pipeline_run_id,
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_STEP,
        records.TAG_PIPELINE_STEP: step,
        records.TAG_PIPELINE_NAME: pipeline,
        records.TAG_MODE: records.MODE_PIPELINE,
    }


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
    "mlops_nb.capture.profile",
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


def register_deferred(
    client: MlflowClient, spec: spec_mod.PipelineSpec, result: PipelineResult | None
) -> str:
    """Registration step of a finished pipeline run whose registration a sweep deferred to its end."""
    if result is None or result.training_run_id is None or result.model_uri is None:
        raise PipelineFailedError("The best point has no model to register.")
    gateway = store.Writer(client)
    pipeline_tags = client.get_run(result.run_id).data.tags  # its code version, as every other step has
    code = {key: pipeline_tags[key] for key in naming.CODE_TAGS if key in pipeline_tags}
    with deferred_signals():  # the step run is recorded complete or failed, as the version is
        run = gateway.create_run(
            result.experiment_id, {**step_tags(spec.name, result.run_id, records.STEP_REGISTRATION), **code}
        )
        run_id = run.info.run_id
        try:
            version = register_result(client, spec, result)
        except BaseException as exc:
            gateway.fail_run(run_id, str(exc) or type(exc).__name__)
            raise
        gateway.set_tags(run_id, {records.TAG_MODEL_VERSION: version})
        gateway.end_run(run_id, "FINISHED")
        gateway.set_tags(result.run_id, {records.TAG_PIPELINE_REGISTRATION: records.REGISTRATION_DONE})
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
    runner = Runner(spec, options, values)
    try:
        result = runner.start()
        runner.run_steps()
    except BaseException as exc:
        with deferred_signals():  # a second signal cannot cut the recording short
            runner.close()
            if runner._result is None or runner._result.status == "FINISHED":
                raise  # no run to mark, or an interruption held back until the run was complete
            runner.fail(exc)
        if isinstance(exc, KeyboardInterrupt):
            raise
        result = runner.result
        hint = getattr(exc, "hint", None)
        where = result.error.removesuffix(f" {hint}") if hint else result.error  # the hint once, at the end
        raise PipelineFailedError(
            f"Pipeline {spec.name} failed at {where}", result=result, hint=hint
        ) from exc
    runner.close()
    return result
