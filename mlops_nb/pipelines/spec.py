"""Pipeline files: what a pipeline runs, on which data, with which gates, in which environment.

A pipeline file is YAML (see ``pipelines/train_classifier.yaml``)::

    name: train_classifier                 # default: the file's stem
    notebook: ../notebooks/train_classifier.ipynb   # relative to this file
    parameters: {n_estimators: 100}        # overrides of the parameters cell's defaults
    smoke: {n_estimators: 5}               # parameters of `mlops-nb validate`'s smoke run
    data:
      source: ../data/iris.csv             # CSV or Parquet file, or a glob of them; or instead
                                           # `dataset: iris` + `version: latest` (or 2): see datasource.py
      watermark: ingested_at               # optional: only rows newer than the last successful run's maximum
                                           # (that column is left out of the data gate)
      test_split: {fraction: 0.2, seed: 42, stratify: species}
    evaluation: {target: species, task: classification, slice_column: petal_size}
    model: {name: iris-classifier, metric: test_accuracy, greater_is_better: true}
    gates:
      data: {...}                          # thresholds for mlops_nb.gates.data.validate_data
      model: {test_accuracy: {threshold: 0.8, min_absolute_change: 0.0, greater_is_better: true}}
    environments:
      dev: {experiment: iris-dev, tracking_uri: ..., data: {source: ...}, resources: {workers: 2}}
      prod: {approval: required}           # promotions to champion-prod wait for a second person
                                           # (an environment's data keeps `data.watermark` unless it sets one)
    release_order: [staging, prod]         # a release to prod needs the same content in staging (the default)
      prod: {triggers: [{cron: "0 3 * * *", tz: Europe/Paris}, {every: 6h}, {on_data: true, min_rows: 1000}]}
                                           # made schedules by `mlops-nb schedule sync`
    timeouts: {cell: 600, run: 3600, start: 60}
    retries: {attempts: 2, backoff: 5, when: [dead_kernel, timeout]}

Every error names the key and its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mlops_nb.exceptions import ConfigError, MlopsError
from mlops_nb.pipelines import parameters as params_mod
from mlops_nb.pipelines.datasource import KEYS as DATA_KEYS
from mlops_nb.pipelines.datasource import DataSource, has_source
from mlops_nb.pipelines.datasource import parse as _data_source
from mlops_nb.pipelines.datasource import resolve as _resolve
from mlops_nb.pipelines.yaml_reader import Reader, line_map

FAILURE_KINDS = ("cell_error", "dead_kernel", "timeout")
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class TestSplit:
    """How ingestion holds out the test split that evaluation scores (the notebook never sees it)."""

    fraction: float = 0.2
    seed: int = 0
    stratify: str | None = None


@dataclass(frozen=True)
class Retries:
    """Retries of the training step with exponential backoff."""

    attempts: int = 1  # total attempts
    backoff: float = 2.0  # seconds before the second attempt, doubled after each
    when: tuple[str, ...] = ("dead_kernel", "timeout")  # failure kinds worth another attempt


@dataclass(frozen=True)
class Timeouts:
    """Per-cell, whole-run and kernel start-up timeouts in seconds (None: no limit)."""

    cell: float | None = None
    run: float | None = None
    start: float = 60.0


@dataclass(frozen=True)
class Environment:
    """Overrides for one deployment environment."""

    name: str
    tracking_uri: str | None = None
    experiment: str | None = None
    data: DataSource | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    triggers: tuple[dict[str, Any], ...] = ()  # each: cron [tz] | every | on_data [min_rows]; [catchup]
    approval: bool = False  # `approval: required`: a promotion waits for a second person's approval


@dataclass(frozen=True)
class PipelineSpec:
    """A parsed pipeline file."""

    path: Path
    name: str
    notebook: Path
    contract: params_mod.Contract
    data: DataSource
    test_split: TestSplit
    model_name: str
    metric: str
    greater_is_better: bool
    target: str
    task: str
    slice_column: str | None
    data_gate: dict[str, Any]
    model_gate: dict[str, Any]
    timeouts: Timeouts
    retries: Retries
    smoke: dict[str, Any]
    kernel: str | None
    environments: dict[str, Environment]
    experiment: str | None = None
    tracking_uri: str | None = None
    release_order: tuple[str, ...] = ()
    env: str | None = None
    lines: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False)
    overridden: tuple[
        str, ...
    ] = ()  # the parameters the file's `parameters:` sets (its runs' names show them)

    def line(self, *key: str) -> int | None:
        """The line of `key` (a path into the YAML) in the pipeline file."""
        return self.lines.get(tuple(key))

    def for_env(self, env: str | None) -> PipelineSpec:
        """The spec with environment `env`'s overrides applied (None: unchanged)."""
        if env is None:
            return self
        if env not in self.environments:
            raise ConfigError(
                f"Environment {env!r} is not defined in {self.path}.",
                hint=f"Known: {', '.join(self.environments) or '(none)'}; add it under `environments:`.",
            )
        chosen = self.environments[env]
        data = self.data
        if chosen.data is not None:  # its own source; the watermark filter is kept unless it names another
            data = replace(chosen.data, watermark=chosen.data.watermark or self.data.watermark)
        return replace(
            self,
            env=env,
            data=data,
            experiment=chosen.experiment or self.experiment,
            tracking_uri=chosen.tracking_uri or self.tracking_uri,
        )

    def requires(self, env: str) -> str | None:
        """The environment whose release `env` needs first (the one before it in `release_order`), or None."""
        order = self.release_order
        return order[order.index(env) - 1] if env in order and order.index(env) > 0 else None

    @property
    def resources(self) -> dict[str, Any]:
        """The chosen environment's resources (workers, cpus, memory)."""
        return self.environments[self.env].resources if self.env else {}


# names end up in MLflow search filters, experiment names and aliases (champion-<env>): no quotes
_NAME = re.compile(r"[\w .-]{1,100}")
_ENV_NAME = re.compile(r"[A-Za-z0-9_-]{1,60}")

_TOP = {
    "name",
    "notebook",
    "kernel",
    "parameters",
    "smoke",
    "data",
    "evaluation",
    "model",
    "gates",
    "environments",
    "timeouts",
    "retries",
    "experiment",
    "tracking_uri",
    "release_order",
}


def _triggers(r: Reader, raw: Any, key: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """An environment's declared triggers (`mlops-nb schedule sync` makes them schedules)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail(key, "must be a list", "E.g. `triggers: [{cron: '0 3 * * *', tz: Europe/Paris}]`.")
    known = {"cron", "tz", "every", "on_data", "min_rows", "catchup"}
    items = tuple(dict(r.mapping(item, key, known)) for item in raw)
    for item in items:
        if sum(name in item for name in ("cron", "every", "on_data")) != 1:
            raise r.fail(key, f"item {item} needs exactly one of cron, every, on_data", "E.g. `- every: 6h`.")
    return items


def _check_gates(r: Reader, data_gate: Mapping[str, Any], model_gate: Mapping[str, Any]) -> None:
    """Thresholds as the gates read them, each error located at its own key's line."""
    from mlops_nb.gates.data_report import DataThresholds
    from mlops_nb.gates.model import MetricThreshold

    for key, value in data_gate.items():
        try:
            DataThresholds.from_dict({key: value})
        except MlopsError as exc:
            raise r.fail(("gates", "data", str(key)), exc.message.rstrip("."), exc.hint or "") from None
    for metric, threshold in model_gate.items():
        try:
            MetricThreshold.from_dict(threshold, where=f"gates.model.{metric}")
        except MlopsError as exc:
            message = exc.message.removeprefix(f"`gates.model.{metric}`: ").rstrip(
                "."
            )  # r.fail names the key
            raise r.fail(("gates", "model", str(metric)), message, exc.hint or "") from None


def _check_metric(r: Reader, key: tuple[str, ...], name: str, task: str, slice_column: str | None) -> None:
    """`name` must be a metric that evaluation logs: ``test_<metric>``, or per slice of the slice column."""
    from mlops_nb.pipelines.evaluation import METRICS

    known = [f"test_{m}" for m in METRICS[task]]
    base, dot, rest = name.partition(".")
    if base in known and (not dot or (slice_column and rest.startswith(f"{slice_column}."))):
        return
    per_slice = f", or per slice test_<metric>.{slice_column}.<value>" if slice_column else ""
    raise r.fail(
        key,
        f"names the metric {name!r}, which evaluation ({task}) does not log",
        f"Use one of {', '.join(known)}{per_slice}.",
    )


def _release_order(r: Reader, raw: Any, environments: Mapping[str, Environment]) -> tuple[str, ...]:
    if raw is None:
        return tuple(env for env in ("staging", "prod") if env in environments)
    if not isinstance(raw, list) or any(not isinstance(e, str) or e not in environments for e in raw):
        known = ", ".join(environments) or "(none)"
        raise r.fail(("release_order",), f"must list defined environments, not {raw!r}", f"Known: {known}.")
    return tuple(raw)


def load(path: str | Path) -> PipelineSpec:
    """Read and check a pipeline file, and the parameters cell of the notebook it names."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(
            f"Pipeline file {path} does not exist.", hint="Check the path, e.g. pipelines/<name>.yaml."
        )
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError(
            f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}.",
            hint="Fix the indentation or quoting on that line.",
        ) from exc
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        line_map(node, (), lines, path)
    r = Reader(path, lines)
    top = r.mapping(raw, (), _TOP)
    base = path.parent

    notebook = Path(_resolve(base, r.value(top, ("notebook",), (str,), required=True)))
    if not notebook.is_file():
        raise r.fail(
            ("notebook",),
            f"names {notebook}, which does not exist",
            "Give the notebook's path relative to this file.",
        )
    contract = params_mod.contract_of(notebook)
    overrides = r.mapping(top.get("parameters"), ("parameters",))
    smoke = r.mapping(top.get("smoke"), ("smoke",))
    for section, values in (("parameters", overrides), ("smoke", smoke)):
        for name in values:
            if found := contract.problem(name, values[name]):
                raise r.fail((section, str(name)), *found)
    contract = contract.with_defaults(overrides, where=path.name)

    data = r.mapping(top.get("data"), ("data",), {*DATA_KEYS, "test_split"})
    environments_raw = r.mapping(top.get("environments"), ("environments",))
    all_envs_have_data = bool(environments_raw) and all(
        isinstance(e, dict) and has_source(e.get("data")) for e in environments_raw.values()
    )
    source = _data_source(r, data, ("data",), base, required=not all_envs_have_data)
    split_raw = r.mapping(data.get("test_split"), ("data", "test_split"), {"fraction", "seed", "stratify"})
    fraction = r.value(split_raw, ("data", "test_split", "fraction"), (float,), default=0.2)
    if not 0 < fraction < 1:
        raise r.fail(
            ("data", "test_split", "fraction"), f"must be between 0 and 1, not {fraction}", "E.g. 0.2."
        )
    test_split = TestSplit(
        fraction,
        r.value(split_raw, ("data", "test_split", "seed"), (int,), default=0),
        r.value(split_raw, ("data", "test_split", "stratify"), (str,)),
    )

    evaluation = r.mapping(top.get("evaluation"), ("evaluation",), {"target", "task", "slice_column"})
    target = r.value(evaluation, ("evaluation", "target"), (str,), required=True)
    task = r.value(evaluation, ("evaluation", "task"), (str,), default="classification", choices=TASKS)
    slice_column = r.value(evaluation, ("evaluation", "slice_column"), (str,))

    model = r.mapping(top.get("model"), ("model",), {"name", "metric", "greater_is_better"})
    model_name = r.value(model, ("model", "name"), (str,), required=True)
    default_metric = "test_accuracy" if task == "classification" else "test_rmse"
    metric = r.value(model, ("model", "metric"), (str,), default=default_metric)
    greater = r.value(
        model, ("model", "greater_is_better"), (bool,), default=not metric.endswith(("rmse", "mae", "loss"))
    )

    gates = r.mapping(top.get("gates"), ("gates",), {"data", "model"})
    data_gate = r.mapping(gates.get("data"), ("gates", "data"))
    model_gate = r.mapping(gates.get("model"), ("gates", "model"))
    _check_gates(r, data_gate, model_gate)
    _check_metric(r, ("model", "metric") if "metric" in model else ("model",), metric, task, slice_column)
    for gated in model_gate:
        _check_metric(r, ("gates", "model", str(gated)), str(gated), task, slice_column)

    t = r.mapping(top.get("timeouts"), ("timeouts",), {"cell", "run", "start"})
    timeouts = Timeouts(
        r.value(t, ("timeouts", "cell"), (float,)),
        r.value(t, ("timeouts", "run"), (float,)),
        r.value(t, ("timeouts", "start"), (float,), default=60.0),
    )
    for name in ("cell", "run", "start"):
        if (getattr(timeouts, name) or 1) <= 0:
            raise r.fail(("timeouts", name), "must be positive", "Give seconds, e.g. 600.")

    rt = r.mapping(top.get("retries"), ("retries",), {"attempts", "backoff", "when"})
    attempts = r.value(rt, ("retries", "attempts"), (int,), default=1)
    if attempts < 1:
        raise r.fail(("retries", "attempts"), "must be at least 1 (the total number of attempts)", "E.g. 2.")
    when = rt.get("when", list(Retries.when))
    if not isinstance(when, list) or any(kind not in FAILURE_KINDS for kind in when):
        raise r.fail(
            ("retries", "when"),
            f"must be a list of {list(FAILURE_KINDS)}, not {when!r}",
            "E.g. [dead_kernel, timeout].",
        )
    backoff = r.value(rt, ("retries", "backoff"), (float,), default=2.0)
    if backoff < 0:
        raise r.fail(("retries", "backoff"), f"must be 0 or more seconds, not {backoff:g}", "E.g. 5.")
    retries = Retries(attempts, backoff, tuple(when))

    environments: dict[str, Environment] = {}
    for env_name, env_raw in environments_raw.items():
        key = ("environments", str(env_name))
        if not _ENV_NAME.fullmatch(str(env_name)):
            raise r.fail(
                key, "is not an environment name", "Use letters, digits, '_' and '-' (it names aliases)."
            )
        env_map = r.mapping(
            env_raw, key, {"tracking_uri", "experiment", "data", "resources", "triggers", "approval"}
        )
        env_data = r.mapping(env_map.get("data"), (*key, "data"), DATA_KEYS)
        resources = r.mapping(env_map.get("resources"), (*key, "resources"), {"workers", "cpus", "memory"})
        workers = r.value(resources, (*key, "resources", "workers"), (int,), default=1)
        if workers < 1:
            raise r.fail((*key, "resources", "workers"), "must be at least 1", "E.g. 2.")
        tracking_uri = r.value(env_map, (*key, "tracking_uri"), (str,))
        environments[str(env_name)] = Environment(
            str(env_name),
            tracking_uri,
            r.value(env_map, (*key, "experiment"), (str,)),
            _data_source(r, env_data, (*key, "data"), base, required=True) if env_data else None,
            dict(resources),
            _triggers(r, env_map.get("triggers"), (*key, "triggers")),
            r.value(env_map, (*key, "approval"), (str,), choices=("required", "none")) == "required",
        )
    kernel = r.value(top, ("kernel",), (str,))
    release_order = _release_order(r, top.get("release_order"), environments)
    name = r.value(top, ("name",), (str,), default=path.stem)
    if not _NAME.fullmatch(name):
        raise r.fail(
            ("name",),
            f"{name!r} is not a pipeline name",
            "Use letters, digits, spaces, '_', '.', '-' (set `name:` if the file's name has others).",
        )
    spec = PipelineSpec(
        path=path,
        name=name,
        notebook=notebook,
        contract=contract,
        data=source,
        test_split=test_split,
        model_name=model_name,
        metric=metric,
        greater_is_better=greater,
        target=target,
        task=task,
        slice_column=slice_column,
        data_gate=dict(data_gate),
        model_gate=dict(model_gate),
        timeouts=timeouts,
        retries=retries,
        smoke=dict(smoke),
        kernel=kernel,
        environments=environments,
        experiment=r.value(top, ("experiment",), (str,)),
        tracking_uri=r.value(top, ("tracking_uri",), (str,)),
        release_order=release_order,
        lines=lines,
        overridden=tuple(str(name) for name in overrides),
    )
    if spec.test_split.stratify is None and task == "classification":
        spec = replace(spec, test_split=replace(spec.test_split, stratify=target))
    return spec
