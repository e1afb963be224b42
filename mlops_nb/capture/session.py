"""The run bound to this kernel (or process): opened by ``%mlops track``, closed by ``%mlops stop`` or exit.

Interactively a session opens a run in the notebook's experiment; under a pipeline (``MLOPS_NB_RUN_ID``
set by the runner) it attaches to the runner's run. Either way the same things are captured.
"""

from __future__ import annotations

import atexit
import json
import numbers
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import config, records, store
from mlops_nb.capture import code, history, notebook, requirements
from mlops_nb.capture.metrics import KEY_RULE, MetricWriter, replay_spool, sink_for, valid_key
from mlops_nb.capture.notebook import find_notebook
from mlops_nb.exceptions import (
    MlopsError,
    NoActiveRunError,
    NotFoundError,
    StoreError,
    UnsupportedDataError,
    UsageError,
)
from mlops_nb.params_text import param_text

if TYPE_CHECKING:
    from mlflow import MlflowClient

_lock = threading.RLock()
_active: Session | None = None
execution_log = history.ExecutionLog()  # filled by the IPython adapter when one is loaded
_host: dict[str, Any] = {"user_ns": None, "raw_history": None}  # set by the IPython adapter


@dataclass
class SplitRecord:
    """What was recorded for one split."""

    name: str
    context: str
    digest: str
    num_rows: int
    num_columns: int
    row_hashes: Any = field(repr=False, default=None)


@dataclass
class Session:
    """A tracked run and what has been captured into it."""

    run_id: str
    experiment_id: str
    experiment_name: str
    mode: str
    settings: config.Settings
    client: MlflowClient
    writer: MetricWriter
    notebook: Path | None
    git: code.GitState | None
    params: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, SplitRecord] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)
    resumed: bool = False
    ended: bool = False
    autologging: bool = False  # we turned MLflow autologging on, and turn it off at the end
    parameter_names: list[str] = field(default_factory=list)  # of the parameters and injected cells
    parameter_sources: set[str] = field(default_factory=set)  # the parameters cells' sources, stripped

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
            from mlflow.entities import Param

            params = [Param(k, param_text(v)) for k, v in new.items()]
            for start in range(0, len(params), 100):
                store.retrying(
                    lambda chunk=params[start : start + 100]: self.client.log_batch(self.run_id, params=chunk)
                )
            self.params.update(new)
            self.client.log_dict(self.run_id, _jsonable(self.params), records.ARTIFACT_CONFIG)
        return dict(self.params)

    # data

    def log_split(self, splits: dict[str, Any], seed: int | None = None) -> dict[str, dict[str, Any]]:
        """Fingerprint and profile each split, log it as a dataset input, check for rows shared between splits."""
        from mlops_nb.capture import data

        if not splits:
            raise UsageError(
                "No splits given.", hint="Example: log_split(train=X_train, test=X_test, seed=42)."
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise UsageError(f"seed must be an integer, got {seed!r}.")
        contexts = {name: _split_context(name) for name in splits}
        digests = {}
        for name, value in splits.items():  # fingerprint everything before writing anything
            try:
                digests[name] = data.fingerprint(value)
            except UnsupportedDataError as exc:
                raise UnsupportedDataError(f"Split {name!r}: {exc.message}", hint=exc.hint) from None
        profiles: dict[str, dict[str, Any]] = {}
        for name, value in splits.items():
            context = contexts[name]
            profile = data.profile(value, name=name, context=context, digest=digests[name], seed=seed)
            profiles[name] = profile
            self.splits[name] = SplitRecord(
                name,
                context,
                digests[name],
                profile["num_rows"],
                profile["num_columns"],
                data.row_hashes(value),
            )
        self._log_datasets(profiles, {name: data.mlflow_schema(value) for name, value in splits.items()})
        self._check_leakage()
        return profiles

    def _log_datasets(self, profiles: dict[str, dict[str, Any]], schemas: dict[str, dict[str, Any]]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        # no run id: MLflow keeps one dataset per name and digest in an experiment, with the first source
        source = {"notebook": str(self.notebook) if self.notebook else sys.argv[0]}
        inputs = [
            DatasetInput(
                Dataset(
                    name=name,
                    digest=profile["digest"],
                    source_type="code",
                    source=json.dumps(source),
                    schema=json.dumps(schemas[name]),
                    profile=json.dumps(
                        {"num_rows": profile["num_rows"], "num_columns": profile["num_columns"]}
                    ),
                ),
                tags=[
                    InputTag(records.INPUT_CONTEXT, profile["context"]),
                    InputTag(records.INPUT_SPLIT, name),
                ],
            )
            for name, profile in profiles.items()
        ]
        store.retrying(lambda: self.client.log_inputs(self.run_id, datasets=inputs))
        for name, profile in profiles.items():
            self.client.log_dict(self.run_id, profile, records.split_artifact(name))

    def _check_leakage(self) -> None:
        from mlops_nb.capture import data

        names = list(self.splits)
        overlaps = []
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                a, b = self.splits[first], self.splits[second]
                if a.context == b.context or a.num_columns != b.num_columns:
                    continue  # e.g. X_train and y_train: parts of the same data, not leakage
                if a.num_columns == 1 and (data.has_repeats(a.row_hashes) or data.has_repeats(b.row_hashes)):
                    continue  # a label or target column: its values repeat, equal values are not shared rows
                shared = data.shared_row_count(a.row_hashes, b.row_hashes)
                if shared:
                    overlaps.append(f"{first}∩{second}: {shared} rows")
        if overlaps:
            self._warn(records.TAG_WARNING_SPLIT_LEAKAGE, "; ".join(overlaps))
        elif records.TAG_WARNING_SPLIT_LEAKAGE in self.warnings:
            self.warnings.pop(records.TAG_WARNING_SPLIT_LEAKAGE)
            self.client.delete_tag(self.run_id, records.TAG_WARNING_SPLIT_LEAKAGE)

    def record_parameters(self, user_ns: dict[str, Any] | None) -> None:
        """Record the parameters the kernel holds now and the run does not have yet."""
        if user_ns is not None:
            values = {n: user_ns[n] for n in self.parameter_names if n in user_ns and n not in self.params}
            if values:
                self.log_config(values)

    # metrics

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Queue metric points (never blocks on the store)."""
        if not isinstance(metrics, dict):
            raise UsageError(f"log_metrics expects a dict of name → number, got {type(metrics).__name__}.")
        self.writer.add(metrics, step)

    # state

    def _warn(self, tag: str, message: str) -> None:
        self.warnings[tag] = message
        self.client.set_tag(self.run_id, tag, message[:5000])

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
        self.client.set_tag(self.run_id, records.TAG_EXECUTION_ORDER, verdict)
        if report.in_order:
            if self.warnings.pop(records.TAG_WARNING_EXECUTION_ORDER, None):
                self.client.delete_tag(self.run_id, records.TAG_WARNING_EXECUTION_ORDER)
        else:
            self._warn(records.TAG_WARNING_EXECUTION_ORDER, "; ".join(report.problems))
        self.client.log_dict(self.run_id, report.to_dict(), records.ARTIFACT_EXECUTION_ORDER)

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
            "store_error": stats.last_error,
            "warnings": list(warnings.values()),
            "tracking_uri": self.settings.tracking_uri,
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
        _pop_fluent_run(self.run_id)
        if self.autologging:  # or the next fit() would open an MLflow run of its own
            import mlflow

            mlflow.autolog(disable=True, silent=True)
        try:
            self.record_parameters(_host.get("user_ns"))  # a parameters cell that ran last
            self.record_execution_order()
            if digest := _snapshot(self):  # the notebook may have been edited and saved since track
                self.client.set_tag(self.run_id, records.TAG_NOTEBOOK_HASH, digest)
            if self.mode == records.MODE_INTERACTIVE:
                store.retrying(lambda: self.client.set_terminated(self.run_id, status))
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


_SPLIT_NAME = re.compile(r"^(?!\.+$)[\w.\-]{1,200}$")


def _split_context(name: str) -> str:
    """The context (training, validation, testing) of a split, from its name; UsageError when it has none."""
    if not _SPLIT_NAME.match(name):
        raise UsageError(
            f"{name!r} is not a split name.", hint="Use letters, digits, _ - . (e.g. train, X_test, val)."
        )
    context = records.split_context(name)
    if context is None:
        raise UsageError(
            f"Cannot tell whether split {name!r} is training, validation or testing data.",
            hint="Name it train, validation or test, or with one of them in it (X_train, y_test, val_df).",
        )
    return context


def _pop_fluent_run(run_id: str) -> None:
    """Drop the run from MLflow's active-run stack without ending it (we end it through the client)."""
    import mlflow

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.tracking.fluent._active_run_stack.get().pop()


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


def _snapshot(session: Session) -> str | None:
    """Upload the notebook as it is on disk now; returns the content hash of what was uploaded."""
    if not (session.notebook and session.notebook.is_file()):
        return None
    text = session.notebook.read_text(encoding="utf-8")
    session.client.log_text(session.run_id, text, f"{records.ARTIFACT_CODE_DIR}/{session.notebook.name}")
    try:
        return code.notebook_hash(json.loads(text))
    except ValueError:
        return None


def _capture_code(session: Session, user_ns: dict[str, Any] | None) -> dict[str, str]:
    """Tags and artifacts for the code version, environment and parameters; returns the tags."""
    nb_path = session.notebook
    kernel = sys.modules.get("ipykernel.kernelapp")
    interactive = _host.get("user_ns") is not None or (
        kernel is not None and kernel.IPKernelApp.initialized()
    )
    script = None if nb_path or interactive else _script()
    tags = {
        records.SOURCE_TYPE: "NOTEBOOK" if nb_path or interactive else "LOCAL",
        records.TAG_KERNEL: code.kernel_name() or "",
    }
    if nb_path or script:
        tags[records.SOURCE_NAME] = str(nb_path or script)
    elif interactive:
        session.warnings[records.TAG_WARNING_NOTEBOOK_UNKNOWN] = (
            "the notebook's path was not found, so its hash and snapshot are not recorded: "
            "use `%mlops track --notebook PATH` (or set MLOPS_NB_NOTEBOOK)"
        )
        tags[records.TAG_WARNING_NOTEBOOK_UNKNOWN] = session.warnings[records.TAG_WARNING_NOTEBOOK_UNKNOWN]
    nb = code.read_notebook(nb_path) if nb_path else None
    if nb_path:
        tags[records.TAG_NOTEBOOK_PATH] = str(nb_path)
        tags[records.TAG_NOTEBOOK_SNAPSHOT] = f"{records.ARTIFACT_CODE_DIR}/{nb_path.name}"
    git = session.git
    if git:
        tags.update(
            {
                records.SOURCE_GIT_COMMIT: git.commit,
                records.TAG_GIT_DIRTY: str(git.dirty).lower(),
            }
        )
        if git.branch:
            tags[records.SOURCE_GIT_BRANCH] = git.branch
        if git.repo_url:
            tags[records.SOURCE_GIT_REPO_URL] = git.repo_url
        if git.dirty:
            session.warnings[records.TAG_WARNING_GIT_DIRTY] = (
                f"{nb_path.name if nb_path else 'the code'} is not committed to git in {git.root} (snapshot recorded)"
                if git.untracked
                else f"uncommitted changes in {git.root} (diff recorded)"
            )
            tags[records.TAG_WARNING_GIT_DIRTY] = session.warnings[records.TAG_WARNING_GIT_DIRTY]
            session.client.log_text(session.run_id, git.diff, records.ARTIFACT_GIT_DIFF)
    session.client.log_dict(
        session.run_id, code.environment(tags[records.TAG_KERNEL] or None), records.ARTIFACT_ENVIRONMENT
    )
    session.client.log_text(session.run_id, code.packages(), records.ARTIFACT_PACKAGES)
    if digest := _snapshot(session):
        tags[records.TAG_NOTEBOOK_HASH] = digest
    # the parameters cell (and papermill's injected cell): values as the kernel holds them now, or, when
    # those cells come after `%mlops track`, once they have run (see cell_ran)
    session.parameter_names = notebook.parameter_names(nb, list(_host.get("raw_history") or []))
    session.parameter_sources = {code.cell_source(c).strip() for c in notebook.parameter_cells(nb or {})}
    session.record_parameters(user_ns)
    return tags


def cell_ran(source: str) -> None:
    """After each cell (IPython adapter): record the parameters once their cells have run. Nothing is
    recorded right after a parameters cell, so that papermill's injected cell, which follows it, wins."""
    session = _active
    if session is None or session.ended:
        return
    if source.lstrip().startswith(notebook.PAPERMILL_HEADER):
        names = notebook.assigned_names(source)
        session.parameter_names += [n for n in names if n not in session.parameter_names]
    elif source.strip() not in session.parameter_sources:
        session.record_parameters(_host.get("user_ns"))


def _script() -> Path | None:
    """The script this process runs; None for ``python -c`` and an interactive interpreter."""
    path = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    return path.resolve() if path is not None and path.is_file() else None


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
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name)
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
            uri = code.redact_url(config.current().tracking_uri)
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
            writer=MetricWriter(sink_for(settings, client, run_id), spool_dir / f"{run_id}.jsonl"),
            notebook=nb_path,
            git=code.git_state(nb_path or Path.cwd()),
        )
        try:
            existing = client.get_run(run_id).data
            session.params.update(existing.params)
            tags = _capture_code(session, user_ns)
            tags[records.TAG_MODE] = mode
            if mode == records.MODE_PIPELINE and (parent := existing.tags.get(records.PARENT_RUN_ID)):
                tags.setdefault(records.TAG_PIPELINE_RUN, parent)
            if (
                records.SOURCE_NAME not in tags
                and sys.argv
                and existing.tags.get(records.SOURCE_NAME) == sys.argv[0]
            ):
                client.delete_tag(run_id, records.SOURCE_NAME)  # MLflow's guess: ipykernel_launcher.py
            from mlflow.entities import RunTag

            store.retrying(
                lambda: client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items() if v])
            )
            if autolog:
                import mlflow

                mlflow.autolog(log_datasets=False, silent=True)
                session.autologging = True
        except BaseException:
            session.ended = True
            session.writer.close(timeout=5)
            if mode == records.MODE_INTERACTIVE:
                client.set_terminated(run_id, "FAILED")
            raise
        _active = session
        atexit.register(_at_exit)
        return session


def _replay_old_spools(settings: config.Settings, client: MlflowClient, spool_dir: Path) -> None:
    """Write the points that earlier sessions could not (their run id is the spool file's name)."""
    if not spool_dir.is_dir():
        return
    for spool in spool_dir.glob("*.jsonl"):
        with store.file_lock(spool.with_suffix(".lock")):
            if spool.exists():
                replay_spool(sink_for(settings, client, spool.stem), spool)


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
