"""The run bound to this kernel (or process): opened by ``%mlops track``, closed by ``%mlops stop`` or exit.

Interactively a session opens a run in the notebook's experiment; under a pipeline (``MLOPS_NB_RUN_ID``
set by the runner) it attaches to the runner's run. Either way the same things are captured.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import config, mlflow_internals, records, store
from mlops_nb.capture import code, history, notebook, provenance, requirements, snapshot, spool
from mlops_nb.capture import notebook as notebook_mod
from mlops_nb.capture import splits as splits_mod
from mlops_nb.capture.metrics import KEY_RULE, MetricWriter, sink_for, valid_key
from mlops_nb.capture.notebook import find_notebook
from mlops_nb.exceptions import (
    MlopsError,
    NoActiveRunError,
    NotFoundError,
    StoreError,
    UsageError,
)
from mlops_nb.params_text import param_text, run_title
from mlops_nb.redact import redact

if TYPE_CHECKING:
    from mlflow import MlflowClient

_lock = threading.RLock()
_active: Session | None = None
execution_log = history.ExecutionLog()  # filled by the IPython adapter when one is loaded
_host: dict[str, Any] = {"user_ns": None, "raw_history": None}  # set by the IPython adapter


@dataclass
class Session:
    """A tracked run and what has been captured into it."""

    run_id: str
    experiment_id: str
    experiment_name: str
    mode: str
    settings: config.Settings
    client: MlflowClient
    gateway: store.Writer
    writer: MetricWriter
    notebook: Path | None
    git: code.GitState | None
    params: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, splits_mod.SplitRecord] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    resumed: bool = False
    ended: bool = False
    autologging: bool = False  # we turned MLflow autologging on, and turn it off at the end
    parameter_names: list[str] = field(default_factory=list)  # of the parameters and injected cells
    parameter_sources: set[str] = field(default_factory=set)  # the parameters cells' sources, stripped
    user_params: set[str] = field(default_factory=set)  # logged by log_config (parameters cells, config)
    notebook_metrics: list[str] = field(default_factory=list)  # keys logged here, most recently logged last
    metric_splits: dict[str, str] = field(default_factory=dict)  # key -> split it was computed on (given)
    auto_name: str | None = None  # the notebook's name, when the run was opened without a name of its own
    injected: list[str] = field(default_factory=list)  # the parameters papermill injected

    # configuration

    def log_config(self, values: dict[str, Any]) -> dict[str, Any]:
        """Record values as params (strings in MLflow) and keep the typed values in ``config/config.json``."""
        if not isinstance(values, dict):
            raise UsageError(f"log_config expects a dict of name → value, got {type(values).__name__}.")
        new = {}
        for key, value in values.items():
            if not valid_key(key):
                raise UsageError(f"Invalid config name {key!r}.", hint=KEY_RULE)
            if key in self.params and param_text(self.params[key]) != param_text(value):
                raise UsageError(
                    f"Config {key!r} is already {self.params[key]!r} in run {self.run_id}; a run's params cannot change.",
                    hint="Start a new run for the new value: `%mlops stop`, then `%mlops track`.",
                )
            if key not in self.params:
                new[key] = value
        if new:
            self.gateway.log_params(self.run_id, new)
            self.params.update(new)
            self.gateway.log_dict(self.run_id, _jsonable(self.params), records.ARTIFACT_CONFIG)
        if not set(values) <= self.user_params:
            self.user_params.update(values)
            self.gateway.set_tags(
                self.run_id, {records.TAG_PARAMS_USER: json.dumps(sorted(self.user_params))}
            )
        return dict(self.params)

    # data

    def log_split(self, splits: dict[str, Any], seed: int | None = None) -> dict[str, dict[str, Any]]:
        """Fingerprint and profile each split, log it as a dataset input, check for rows shared between splits."""
        profiles = splits_mod.record(self, splits, seed)
        self._check_leakage()
        return profiles

    def _check_leakage(self) -> None:
        if overlaps := splits_mod.overlaps(self.splits):
            self._warn(records.TAG_WARNING_SPLIT_LEAKAGE, "; ".join(overlaps))
        elif self.warnings.pop(records.TAG_WARNING_SPLIT_LEAKAGE, None):
            self.gateway.delete_tag(self.run_id, records.TAG_WARNING_SPLIT_LEAKAGE)

    def name_run(self, user_ns: dict[str, Any] | None) -> None:
        """Name a run opened without a name after its notebook and papermill's injected parameters
        (``train_classifier alpha=0.001 epochs=10``)."""
        if self.auto_name is None or not self.injected:
            return
        values = {n: user_ns[n] for n in self.injected if user_ns is not None and n in user_ns}
        self.gateway.set_tags(self.run_id, {records.RUN_NAME: run_title(self.auto_name, values)})

    def record_parameters(self, user_ns: dict[str, Any] | None) -> None:
        """Record the parameters the kernel holds now and the run does not have yet."""
        if user_ns is not None:
            values = {n: user_ns[n] for n in self.parameter_names if n in user_ns and n not in self.params}
            if values:
                self.log_config(values)

    # metrics

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, split: str | None = None
    ) -> None:
        """Queue metric points (never blocks on the store); `split` names the split they were computed on."""
        if not isinstance(metrics, dict):
            raise UsageError(f"log_metrics expects a dict of name → number, got {type(metrics).__name__}.")
        if split is not None and split not in self.splits:
            raise UsageError(
                f"split={split!r} is not a split of run {self.run_id}.",
                hint=f"Record it first with log_split; its splits: {', '.join(self.splits) or 'none'}.",
            )
        self.writer.add(metrics, step)
        if self.notebook_metrics[-len(metrics) :] != list(metrics):
            self.notebook_metrics = [k for k in self.notebook_metrics if k not in metrics] + list(metrics)
        if split is not None:
            self.metric_splits.update(dict.fromkeys(metrics, split))

    def metric_data(self) -> dict[str, dict[str, str]]:
        """The split each notebook metric was computed on: the one given to log_metrics, else the one split
        whose context the metric's name implies (``test_accuracy``: the testing split)."""
        by_context: dict[str, list[splits_mod.SplitRecord]] = {}
        for record in self.splits.values():
            by_context.setdefault(record.context, []).append(record)
        found = {}
        for key in self.notebook_metrics:
            if key in self.metric_splits:
                record = self.splits[self.metric_splits[key]]
            elif (context := records.split_context(key)) and len(by_context.get(context, [])) == 1:
                record = by_context[context][0]
            else:
                continue
            found[key] = {"split": record.name, "context": record.context, "digest": record.digest}
        return found

    def record_metric_names(self) -> None:
        """Tag which metrics the notebook logged (most recent last) and the split each was computed on."""
        if not self.notebook_metrics:
            return
        names = list(self.notebook_metrics)
        while len(json.dumps(names)) > store.Writer.TAG_VALUE_LIMIT and names:
            names.pop(0)  # the oldest go first when the list outgrows a tag
        tags = {records.TAG_METRICS_NOTEBOOK: json.dumps(names)}
        for key, data in self.metric_data().items():
            if valid_key(records.metric_data_tag(key)):  # a tag key has the 250 characters a metric key has
                tags[records.metric_data_tag(key)] = json.dumps(data)
        self.gateway.set_tags(self.run_id, tags)

    # state

    def _warn(self, tag: str, message: str) -> None:
        self.warnings[tag] = message
        self.gateway.set_tags(self.run_id, {tag: message})

    def execution_order(self) -> history.OrderReport | None:
        """The cells' execution order checked against the notebook (None outside IPython)."""
        raw = _host.get("raw_history")
        if raw:
            execution_log.backfill(list(raw))
        if not execution_log.entries:
            return None
        nb = code.read_notebook(self.notebook) if self.notebook else None
        return history.check_order(nb, execution_log.ordered())

    def record_execution_order(self) -> None:
        """Record the execution order (tag, warning tag, artifact ``execution/order.json``)."""
        report = self.execution_order()
        if report is None:
            return
        verdict = records.EXECUTION_IN_ORDER if report.in_order else records.EXECUTION_OUT_OF_ORDER
        self.gateway.set_tags(self.run_id, {records.TAG_EXECUTION_ORDER: verdict})
        if report.in_order:
            if self.warnings.pop(records.TAG_WARNING_EXECUTION_ORDER, None):
                self.gateway.delete_tag(self.run_id, records.TAG_WARNING_EXECUTION_ORDER)
        else:
            self._warn(records.TAG_WARNING_EXECUTION_ORDER, "; ".join(report.problems))
        self.gateway.log_dict(self.run_id, report.to_dict(), records.ARTIFACT_EXECUTION_ORDER)

    def status(self) -> dict[str, Any]:
        """What this run has captured, with warnings (computed here; written to the run at stop)."""
        warnings = dict(self.warnings)
        report = self.execution_order()
        if report is not None and not report.in_order:
            warnings[records.TAG_WARNING_EXECUTION_ORDER] = "cells ran out of order: " + "; ".join(
                report.problems
            )
        stats = self.writer.stats
        pending = self.writer.pending
        return {
            "run_id": self.run_id,
            "experiment": self.experiment_name,
            "mode": self.mode,
            "notebook": str(self.notebook) if self.notebook else None,
            "git": None
            if self.git is None
            else {"commit": self.git.commit, "branch": self.git.branch, "dirty": self.git.dirty},
            "params": dict(self.params),
            "splits": {
                s.name: {"context": s.context, "digest": s.digest, "rows": s.num_rows}
                for s in self.splits.values()
            },
            "metrics": {"written": stats.written, "pending": pending, "spooled": stats.spooled},
            "store_error": redact(stats.last_error) if stats.last_error else None,
            "warnings": list(warnings.values()),
            "tracking_uri": redact(self.settings.tracking_uri),
        }

    def end(self, status: str = "FINISHED", flush_timeout: float = 60.0) -> None:
        """Flush metrics, record execution order and the notebook snapshot, end the run (interactive mode).

        Metric points the store does not take within `flush_timeout` seconds stay in the spool file; the
        next session in this project writes them. A store that cannot be reached to close the run is
        reported as a StoreError.
        """
        if self.ended:
            return
        self.ended = True
        stats = self.writer.close(flush_timeout)
        mlflow_internals.pop_fluent_run(self.run_id)
        if self.autologging:  # or the next fit() would open an MLflow run of its own
            import mlflow

            mlflow.autolog(disable=True, silent=True)
        try:
            self.record_parameters(_host.get("user_ns"))  # a parameters cell that ran last
            self.record_metric_names()
            self.record_execution_order()
            if digest := snapshot.upload(self):  # the notebook may have been edited and saved since track
                self.gateway.set_tags(self.run_id, {records.TAG_NOTEBOOK_HASH: digest})
            if self.mode == records.MODE_INTERACTIVE:
                self.gateway.end_run(self.run_id, status)
        except Exception as exc:
            kept = (
                f" {stats.spooled} metric point(s) are kept in {self.writer.spool} and will be written"
                " by the next `%mlops track` in this project."
                if stats.spooled
                else ""
            )
            raise StoreError(
                f"Run {self.run_id} could not be closed: the store did not answer ({str(exc).splitlines()[0]}).{kept}",
                hint="Check the tracking server, then end the run with `mlflow runs` or the MLflow UI.",
            ) from None


def _names(tag: str | None) -> list[str]:
    """The names a JSON-list tag holds (none when absent or unreadable)."""
    try:
        names = json.loads(tag or "[]")
    except ValueError:
        return []
    return [str(name) for name in names] if isinstance(names, list) else []


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


def cell_ran(source: str) -> None:
    """After each cell (IPython adapter): record the parameters once their cells have run. Nothing is
    recorded right after a parameters cell, so that papermill's injected cell, which follows it, wins."""
    session = _active
    if session is None or session.ended:
        return
    if source.lstrip().startswith(notebook.PAPERMILL_HEADER):
        names = notebook.assigned_names(source)
        session.parameter_names += [n for n in names if n not in session.parameter_names]
        if notebook.is_injected(source):
            session.injected += [n for n in names if n not in session.injected]
            session.name_run(_host.get("user_ns"))
    elif source.strip() not in session.parameter_sources:
        session.record_parameters(_host.get("user_ns"))


def _open(experiment: str | None, run_name: str | None, nb_path: Path | None) -> tuple[str, str, str, str]:
    """Start or attach the MLflow run; returns (run_id, experiment_id, experiment_name, mode)."""
    import mlflow

    settings = store.ensure_store()
    mlflow.set_tracking_uri(settings.tracking_uri)
    if settings.registry_uri:
        mlflow.set_registry_uri(settings.registry_uri)
    client = store.client(settings)
    attach = os.environ.get(records.ENV_RUN_ID)
    if attach:
        try:
            run = client.get_run(attach)
        except Exception as exc:
            raise NotFoundError(
                f"{records.ENV_RUN_ID}={attach} names no run in the store {settings.tracking_uri}.",
                hint="The pipeline runner and the kernel must use the same store (MLFLOW_TRACKING_URI).",
            ) from exc
        mlflow.start_run(run_id=attach)
        if os.environ.get(records.ENV_REQUIREMENTS_CACHE):
            requirements.install(os.environ[records.ENV_REQUIREMENTS_CACHE])
        name = client.get_experiment(run.info.experiment_id).name
        return attach, run.info.experiment_id, name, records.MODE_PIPELINE
    name = experiment or settings.experiment or (nb_path.stem if nb_path else "default")
    exp_id = store.experiment_id(name, settings)
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name or (nb_path.stem if nb_path else None))
    return run.info.run_id, exp_id, name, records.MODE_INTERACTIVE


def track(
    experiment: str | None = None,
    run_name: str | None = None,
    *,
    autolog: bool = True,
    notebook: str | None = None,
    user_ns: dict[str, Any] | None = None,
) -> Session:
    """Open (or resume) the session's run; see ``mlops_nb.track``."""
    global _active
    with _lock:
        if _active is not None and not _active.ended:
            if experiment and experiment != _active.experiment_name:
                raise UsageError(
                    f"Run {_active.run_id} of experiment {_active.experiment_name!r} is already active.",
                    hint=f"`%mlops stop` first to track into {experiment!r}.",
                )
            _active.resumed = True
            return _active
        user_ns = user_ns if user_ns is not None else _host.get("user_ns")
        if notebook and not Path(notebook).is_file():
            raise UsageError(
                f"Notebook {notebook!r} does not exist (from {Path.cwd()}).",
                hint="Give the path of the notebook you are running.",
            )
        nb_path = Path(notebook).resolve() if notebook else find_notebook(user_ns)
        try:
            run_id, exp_id, exp_name, mode = _open(experiment, run_name, nb_path)
        except MlopsError:
            raise
        except Exception as exc:  # MLflow's errors of an unreachable or unusable store
            uri = config.current().tracking_uri  # StoreError hides its credentials
            raise StoreError(
                f"The MLflow store {uri} could not open a run: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                hint="Check MLFLOW_TRACKING_URI (or tracking_uri in [tool.mlops_nb]) and that its server is running.",
            ) from exc
        settings = store.ensure_store()
        client = store.client(settings)
        spool_dir = settings.state_dir / "spool"
        _replay_old_spools(settings, client, spool_dir)
        session = Session(
            run_id=run_id,
            experiment_id=exp_id,
            experiment_name=exp_name,
            mode=mode,
            settings=settings,
            client=client,
            gateway=store.Writer(client),
            writer=MetricWriter(sink_for(settings, client, run_id), spool_dir / f"{run_id}.jsonl"),
            notebook=nb_path,
            git=code.git_state(nb_path or Path.cwd()),
        )
        try:
            existing = client.get_run(run_id).data
            session.params.update(existing.params)
            session.user_params.update(_names(existing.tags.get(records.TAG_PARAMS_USER)))
            session.notebook_metrics = _names(existing.tags.get(records.TAG_METRICS_NOTEBOOK))
            tags = provenance.capture(session, user_ns, _host)
            tags[records.TAG_MODE] = mode
            if mode == records.MODE_INTERACTIVE and run_name is None and nb_path is not None:
                session.auto_name = nb_path.stem
                session.injected = notebook_mod.injected_names(list(_host.get("raw_history") or []))
                session.name_run(user_ns)
            if mode == records.MODE_PIPELINE and (parent := existing.tags.get(records.PARENT_RUN_ID)):
                tags.setdefault(records.TAG_PIPELINE_RUN, parent)
            if (
                records.SOURCE_NAME not in tags
                and sys.argv
                and existing.tags.get(records.SOURCE_NAME) == sys.argv[0]
            ):
                session.gateway.delete_tag(
                    run_id, records.SOURCE_NAME
                )  # MLflow's guess: ipykernel_launcher.py
            session.gateway.set_tags(run_id, tags)
            if autolog:
                import mlflow

                mlflow.autolog(log_datasets=False, silent=True)
                session.autologging = True
        except BaseException:
            session.ended = True
            session.writer.close(timeout=5)
            if mode == records.MODE_INTERACTIVE:
                session.gateway.end_run(run_id, "FAILED")
            raise
        _active = session
        atexit.register(_at_exit)
        return session


def _replay_old_spools(settings: config.Settings, client: MlflowClient, spool_dir: Path) -> None:
    """Write the points that earlier sessions could not (their run id is the spool file's name); a spool
    whose writer still lives in another process is left to it."""
    spool.replay_folder(spool_dir, lambda run_id: sink_for(settings, client, run_id))


def active() -> Session:
    """The active session, or NoActiveRunError."""
    if _active is None or _active.ended:
        raise NoActiveRunError(
            "No tracked run is active.", hint="Start one with `%mlops track` or mlops_nb.track()."
        )
    return _active


def status() -> dict[str, Any]:
    """Status of the active session, or ``{"active": False}``."""
    if _active is None or _active.ended:
        return {"active": False}
    return {"active": True, **_active.status()}


def stop(status_: str = "FINISHED", flush_timeout: float = 60.0) -> str | None:
    """End the active session's run; returns its id or None when nothing was active."""
    global _active
    with _lock:
        if _active is None or _active.ended:
            return None
        session, _active = _active, None
        session.end(status_, flush_timeout)
        return session.run_id


EXIT_FLUSH_SECONDS = 1.0  # jupyter_client sends SIGTERM 2.5 s after asking a kernel to shut down


def _at_exit() -> None:
    """Kernel shutdown: flush and end the run; FAILED when the last executed cell raised. Points the store
    has not taken after EXIT_FLUSH_SECONDS are spooled, before the kernel can be killed."""
    if _active is not None and not _active.ended:
        stop("FAILED" if execution_log.last_failed else "FINISHED", EXIT_FLUSH_SECONDS)
