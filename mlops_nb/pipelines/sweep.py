"""``mlops-nb sweep``: one pipeline run per point of a parameter grid, in parallel, best one registered.

A sweep is a parent MLflow run whose children are complete pipeline runs (each with its own steps).
Points run on local worker processes or on a Dask ``distributed`` cluster. Only the best point by the
pipeline's metric (``model.metric``) is registered, unless ``register_all``.

Speed: two zygotes (see ``warm.py``) import MLflow, pandas, scikit-learn, papermill and the notebook's
modules once, side by side; each point's step runner is a process forked from one, each notebook's
kernel from the other: no point pays interpreter start-up or heavy imports, yet each starts from a
fresh interpreter state. Kernels
talk over IPC sockets in private folders, so parallel points never race for TCP ports. On Dask, each
worker process keeps its own zygote for its kernels.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_nb import records, store
from mlops_nb.exceptions import PipelineFailedError, UsageError
from mlops_nb.pipelines import cluster, naming, progress, reference
from mlops_nb.pipelines import run as run_mod
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.pipelines.cancel import Cancellation
from mlops_nb.pipelines.warm import WarmKernels, shared

_FORWARDED_ENV = (records.ENV_PROJECT, "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["lr=0.01,0.1", "depth=3,5"]`` into ``{"lr": ["0.01", "0.1"], "depth": ["3", "5"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"--grid {item!r} is not of the form name=v1,v2.", hint="Write e.g. --grid lr=0.01,0.1."
            )
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise UsageError(f"--grid {name}= has no values.", hint="Write e.g. --grid lr=0.01,0.1.")
        grid[name] = values
    if not grid:
        raise UsageError("A sweep needs at least one --grid name=v1,v2.")
    return grid


def points(
    grid: Mapping[str, Sequence[str]], *, sample: int | None = None, seed: int | None = None
) -> list[dict[str, str]]:
    """Every combination of the grid, or `sample` of them drawn without replacement with `seed`."""
    names = list(grid)
    combos = [
        dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))
    ]
    if sample is not None:
        if sample < 1:
            raise UsageError("--random N needs N >= 1.")
        combos = random.Random(seed).sample(combos, min(sample, len(combos)))
    return combos


@dataclass
class SweepOptions:
    """How to sweep."""

    grid: dict[str, list[str]]
    env: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)  # fixed -p values for every point
    sample: int | None = None
    seed: int | None = None
    workers: int | None = None  # default: the environment's resources.workers, else 2
    executor: str | None = None  # None: local processes; "dask://HOST:PORT"
    register_all: bool = False
    progress: bool = True


@dataclass
class PointResult:
    """One point of a sweep."""

    index: int
    parameters: dict[str, Any]  # typed against the notebook's parameters cell
    run_id: str | None
    status: str
    metric: float | None = None
    error: str | None = None
    kind: str | None = None
    model_version: str | None = None


@dataclass
class SweepResult:
    """What a sweep did; ``to_dict()`` is the ``--json`` summary."""

    pipeline: str
    run_id: str
    metric: str
    status: str = "RUNNING"
    points: list[PointResult] = field(default_factory=list)
    best: PointResult | None = None
    model_version: str | None = None
    error: str | None = None
    seconds: float = 0.0
    workers: int = 1
    executor: str = "local"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return asdict(self)


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one point (picklable for processes and Dask)."""

    path: str
    env: str | None
    params: dict[str, Any]
    sweep_run_id: str
    index: int
    register: bool
    environ: dict[str, str]
    warm_dirs: list[str] | None  # None: a Dask worker keeps its own zygote
    modules: list[str]
    watermark_after: str | None = None  # read once for all points: they all train on the same rows


def _run_point(task: PointTask) -> tuple[PointResult, run_mod.PipelineResult | None]:
    """Run one point (in a worker process or a Dask worker); never raises for a failed pipeline."""
    os.environ.update(task.environ)
    if task.warm_dirs is None:  # on a Dask worker: stopped when the client cancels the sweep
        with cluster.cancellation(task.sweep_run_id) as cancel:
            return _run_point_with(task, shared(task.modules).kernel_dirs, cancel)
    return _run_point_with(task, task.warm_dirs, None)


def _run_point_with(
    task: PointTask, warm_dirs: list[str], cancel: Cancellation | None
) -> tuple[PointResult, run_mod.PipelineResult | None]:
    index, path = task.index, task.path
    point = dict(task.params)
    options = run_mod.RunOptions(
        env=task.env,
        parameters=task.params,
        register=task.register,
        progress=False,
        parent_run_id=task.sweep_run_id,
        extra_tags={
            records.TAG_RELEASE: records.RELEASE_WORKING_COPY,  # a sweep runs the working copy, as `run` does
            records.TAG_SWEEP_RUN: task.sweep_run_id,
            records.TAG_SWEEP_POINT: json.dumps(point),
        },
        warm_dirs=warm_dirs,
        fixed_watermark=True,
        watermark_after=task.watermark_after,
        cancel=cancel,
    )
    try:
        result = run_mod.run(path, options)
    except KeyboardInterrupt:
        if cancel is None or not cancel.is_set():
            raise
        return PointResult(
            index, point, None, "KILLED", error="cancelled with its sweep", kind="killed"
        ), None
    except PipelineFailedError as exc:
        result = exc.result
        if not isinstance(result, run_mod.PipelineResult):
            return PointResult(index, point, None, "FAILED", error=str(exc), kind="error"), None
        failed = next((s for s in reversed(result.steps) if s.status == "FAILED"), None)
        return PointResult(
            index, point, result.run_id, "FAILED", error=result.error, kind=failed.kind if failed else "error"
        ), result
    metric = spec_mod.load(path).metric
    return PointResult(
        index,
        point,
        result.run_id,
        "FINISHED",
        metric=result.metrics.get(metric),
        model_version=result.model_version,
    ), result


def _typed(spec: spec_mod.PipelineSpec, given: dict[str, Any]) -> dict[str, Any]:
    """A point's values typed against the notebook's parameters cell (``"0.1"`` -> ``0.1``)."""
    values = run_mod.resolve_parameters(spec, given, where="--grid/-p")
    return {name: values[name] for name in given}


def sweep(path: str | Path, options: SweepOptions) -> SweepResult:
    """Run the sweep; returns its result, or raises PipelineFailedError carrying it."""
    started = time.monotonic()
    spec = spec_mod.load(path).for_env(options.env)
    fixed = dict(options.parameters)
    overlap = set(fixed) & set(options.grid)
    if overlap:
        raise UsageError(f"{', '.join(sorted(overlap))} given both as -p and in --grid.", hint="Keep one.")
    todo = points(options.grid, sample=options.sample, seed=options.seed)
    typed = [_typed(spec, {**fixed, **point}) for point in todo]  # every point, before anything runs
    workers = options.workers if options.workers is not None else int(spec.resources.get("workers", 2))
    if workers < 1:
        raise UsageError("--workers must be at least 1.")
    modules = run_mod.notebook_modules(spec)
    client: Any = None
    result: SweepResult | None = None
    outcomes: dict[int, run_mod.PipelineResult | None] = {}
    requirements = tempfile.mkdtemp(prefix="mlops-nb-requirements-")  # shared by the points' kernels
    try:
        with _executor(options, workers, modules) as (submit, warm_dirs):  # the zygotes warm up meanwhile
            client, result, environ = _open(spec, options, typed, workers)
            environ[records.ENV_REQUIREMENTS_CACHE] = requirements
            after = (
                reference.last_watermark(client, client.get_run(result.run_id).info.experiment_id, spec.name)
                if spec.data.watermark
                else None
            )
            futures = [
                submit(
                    _run_point,
                    PointTask(
                        str(spec.path),
                        options.env,
                        values,
                        result.run_id,
                        index,
                        options.register_all,
                        environ,
                        warm_dirs,
                        modules,
                        after,
                    ),
                )
                for index, values in enumerate(typed)
            ]
            for point, outcome in _progress(futures, options.progress, spec.name):
                result.points.append(point)
                outcomes[point.index] = outcome
            result.points.sort(key=lambda p: p.index)
            _finish(
                client,
                spec,
                result,
                outcomes=outcomes,
                register_all=options.register_all,
                submit=submit,
                environ=environ,
            )
    except BaseException as exc:
        if result is None:
            raise
        result.status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        result.error = result.error or f"{type(exc).__name__}: {exc}"
        _kill_unfinished(client, result.run_id)
        _close(client, result, started)
        if isinstance(exc, PipelineFailedError | KeyboardInterrupt):
            raise
        raise PipelineFailedError(f"Sweep {spec.name} failed: {result.error}", result=result) from exc
    finally:
        shutil.rmtree(requirements, ignore_errors=True)
    _close(client, result, started)
    return result


def _open(
    spec: spec_mod.PipelineSpec, options: SweepOptions, typed: list[dict[str, Any]], workers: int
) -> tuple[Any, SweepResult, dict[str, str]]:
    """The sweep run, its result, and the environment every point runs with."""
    settings = run_mod._settings_for(spec)
    client = store.client(settings)
    run_mod.use_store(settings)
    experiment_id = store.experiment_id(spec.experiment or settings.experiment or spec.name, settings)
    tags = {
        records.RUN_NAME: naming.sweep_name(spec.name, options.grid, len(typed)),
        records.TAG_PIPELINE_METRIC: spec.metric,
        records.TAG_MODE: records.MODE_PIPELINE,
        records.TAG_PIPELINE_KIND: records.PIPELINE_KIND_SWEEP,
        records.TAG_PIPELINE_NAME: spec.name,
        records.TAG_PIPELINE_FILE: str(spec.path),
        records.TAG_PIPELINE_ENV: spec.env or "",
        **naming.code_version(spec.notebook, records.RELEASE_WORKING_COPY, spec.name, settings),
    }
    sweep_run = store.Writer(client).create_run(experiment_id, tags)
    result = SweepResult(
        spec.name, sweep_run.info.run_id, spec.metric, workers=workers, executor=options.executor or "local"
    )
    fixed = {k: typed[0][k] for k in options.parameters}
    grid = {
        name: [spec.contract.parameters[name].type.convert(v) for v in values]
        for name, values in options.grid.items()
    }
    store.Writer(client).log_dict(
        result.run_id, {"grid": grid, "fixed": fixed, "points": typed}, records.ARTIFACT_SWEEP_GRID
    )
    environ = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
    environ[records.ENV_PROJECT] = str(settings.root)
    environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    environ["MLFLOW_REGISTRY_URI"] = settings.registry_uri or settings.tracking_uri
    return client, result, environ


@contextlib.contextmanager
def _executor(
    options: SweepOptions, workers: int, modules: list[str]
) -> Iterator[tuple[Any, list[str] | None]]:
    """A submit function and the warm-kernel folders for the points (None: each Dask worker has its own)."""
    if options.executor:
        if not options.executor.startswith("dask://"):
            raise UsageError(f"Unknown executor {options.executor!r}.", hint="Use dask://HOST:PORT.")
        with cluster.submitter(options.executor) as submit:
            yield submit, None
        return
    # Two zygotes warm up side by side (one per core): one forks the points' step runners, the other
    # the notebooks' kernels.
    kernels = WarmKernels(modules)
    runners = WarmKernels(run_mod.RUNNER_MODULES)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
    try:
        yield (lambda fn, task: pool.submit(runners.call, fn, task)), kernels.kernel_dirs
    finally:
        # Closing the zygotes first ends any point still running (after an interruption), so waiting
        # for the pool's threads does not wait for those points to finish.
        runners.close()
        kernels.close()
        pool.shutdown(wait=True, cancel_futures=True)


def _progress(futures: list[Any], show: bool, name: str) -> Iterator[tuple[PointResult, Any]]:
    from tqdm.auto import tqdm

    lines = show and not progress.on_terminal()  # one line per point instead of a bar
    bar = tqdm(total=len(futures), desc=f"sweep {name}", unit="point", disable=not show or lines)
    try:
        if futures and hasattr(futures[0], "key"):  # Dask futures
            from distributed import as_completed as dask_completed

            done = dask_completed(futures)
        else:
            done = as_completed(futures)
        for count, future in enumerate(done, start=1):
            point, outcome = future.result()
            bar.set_postfix_str(f"point {point.index}: {point.status.lower()}")
            bar.update(1)
            if lines:
                status = point.status.lower()
                progress.line(f"sweep {name}: point {point.index} {status} ({count}/{len(futures)})")
            yield point, outcome
    finally:
        bar.close()


@dataclass(frozen=True)
class RegisterTask:
    """The deferred registration of a sweep's best point (picklable)."""

    path: str
    env: str | None
    outcome: run_mod.PipelineResult | None
    environ: dict[str, str]


def _register_best(task: RegisterTask) -> str:
    """Register the best point's model (in a warm step runner or on a Dask worker)."""
    os.environ.update(task.environ)
    spec = spec_mod.load(task.path).for_env(task.env)
    settings = run_mod._settings_for(spec)
    run_mod.use_store(settings)
    return run_mod.register_deferred(store.client(settings), spec, task.outcome)


def _finish(
    client: Any,
    spec: spec_mod.PipelineSpec,
    result: SweepResult,
    *,
    outcomes: Mapping[int, run_mod.PipelineResult | None],
    register_all: bool,
    submit: Any,
    environ: dict[str, str],
) -> None:
    finished = [p for p in result.points if p.status == "FINISHED" and p.metric is not None]
    errors = [p for p in result.points if p.status == "FAILED" and p.kind != "gate"]
    if finished:
        pick = max if spec.greater_is_better else min
        result.best = pick(finished, key=lambda p: p.metric)
        gateway = store.Writer(client)
        gateway.set_tags(result.best.run_id, {records.TAG_SWEEP_BEST: "true"})
        gateway.log_metrics(result.run_id, {f"best_{spec.metric}": result.best.metric})
        gateway.log_dict(result.run_id, result.best.parameters, records.ARTIFACT_SWEEP_BEST)
        if register_all:  # the points registered in the order they finished: challenger goes to the best
            result.model_version = result.best.model_version
            if result.model_version:
                gateway.set_alias(spec.model_name, records.ALIAS_CHALLENGER, result.model_version)
        else:
            # registered by a warm runner: this process has not imported MLflow's model flavours
            task = RegisterTask(str(spec.path), spec.env, outcomes[result.best.index], environ)
            result.model_version = submit(_register_best, task).result()
            result.best.model_version = result.model_version
    if errors or not finished:
        failed = (
            ", ".join(f"point {p.index} ({p.kind}: {p.error})" for p in errors) or "no point passed its gates"
        )
        result.status = "FAILED"
        result.error = failed
        raise PipelineFailedError(f"Sweep {spec.name} failed: {failed}", result=result)
    result.status = "FINISHED"


def _kill_unfinished(client: Any, sweep_run_id: str) -> None:
    """Mark KILLED the pipeline runs of the sweep, and their steps, that an interruption left RUNNING."""
    experiment_id = client.get_run(sweep_run_id).info.experiment_id
    running = "attributes.status = 'RUNNING'"
    points = client.search_runs(
        [experiment_id], f"tags.`{records.TAG_SWEEP_RUN}` = '{sweep_run_id}' and {running}"
    )
    for point in points:
        steps = client.search_runs(
            [experiment_id], f"tags.`{records.TAG_PIPELINE_RUN}` = '{point.info.run_id}' and {running}"
        )
        for run in [*steps, point]:
            store.Writer(client).end_run(run.info.run_id, "KILLED")


def _close(client: Any, result: SweepResult, started: float) -> None:
    result.seconds = time.monotonic() - started
    gateway = store.Writer(client)
    gateway.set_tags(result.run_id, {records.TAG_ERROR: result.error})
    gateway.log_dict(result.run_id, result.to_dict(), records.ARTIFACT_PIPELINE_SUMMARY)
    gateway.end_run(result.run_id, result.status)


def render(result: SweepResult) -> str:
    """A readable table of the sweep."""
    lines = [
        f"sweep {result.pipeline}  run {result.run_id}  {result.status}  ({result.seconds:.1f} s, "
        f"{len(result.points)} points, {result.workers} workers, {result.executor})"
    ]
    for p in result.points:
        mark = "*" if result.best and p.index == result.best.index else " "
        value = f"{p.metric:.4g}" if p.metric is not None else "-"
        lines.append(
            f" {mark} {p.index:>3}  {json.dumps(p.parameters):<40} {p.status:<8} {result.metric}={value}"
            + (f"  {p.error}" if p.error else "")
        )
    if result.model_version:
        lines.append(
            f"  registered version {result.model_version} (alias challenger) from the best point (*)"
        )
    return "\n".join(lines)
