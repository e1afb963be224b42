"""The MLflow connection (the embedded SQLite store by default, or any tracking server) and the one write
gateway through which mlops_nb writes to it.

The embedded store is created on first use under a file lock, so several kernels opening a new
store at once do not race through MLflow's schema set-up, and switched to WAL so readers never
block the writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_nb import config, records
from mlops_nb.exceptions import StoreError
from mlops_nb.params_text import param_text
from mlops_nb.redact import redact

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, Metric, Run
    from mlflow.entities.model_registry import ModelVersion

T = TypeVar("T")
_ready: set[str] = set()
_ready_lock = threading.Lock()


def _sqlite_path(uri: str) -> Path:
    return Path(uri[len("sqlite:///") :])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes, held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_state_dir(settings: config.Settings) -> None:
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# mlops_nb's local store: not for version control\n*\n", encoding="utf-8")


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence INFO logging of MLflow's schema set-up (it is not the user's concern)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def ensure_store(settings: config.Settings | None = None) -> config.Settings:
    """Create the embedded store on first use (once per process) and return the settings."""
    settings = settings or config.current()
    key = settings.tracking_uri
    if key in _ready:
        return settings
    with _ready_lock:
        if key in _ready:
            return settings
        if settings.embedded:
            _prepare_state_dir(settings)
            db = _sqlite_path(settings.tracking_uri)
            with file_lock(db.with_name(db.name + ".lock")), _quiet("mlflow.store.db.utils", "alembic"):
                from mlflow import MlflowClient

                client = MlflowClient(settings.tracking_uri, settings.registry_uri or settings.tracking_uri)
                client.search_experiments(
                    max_results=1
                )  # runs MLflow's schema set-up, serialised by the lock
                client.search_registered_models(max_results=1)
                with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
        elif settings.tracking_uri.startswith(("http://", "https://")):
            _check_reachable(settings.tracking_uri)
            if redact(settings.tracking_uri) != settings.tracking_uri:
                # MLflow prints "View run <name> at: <tracking URI>/#/..." as each run ends, user info and
                # all, into notebooks and CI logs; the environment reaches kernels started from here too.
                os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        _ready.add(key)
    return settings


def _check_reachable(uri: str) -> None:
    """Fail in seconds, naming the server, when nothing answers at a tracking server's address: MLflow's
    own calls would retry with backoff for about 4 minutes first."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)  # urllib takes user info for part of the host name: drop it
    health = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl().rstrip("/") + "/health"
    try:
        urllib.request.urlopen(health, timeout=10).close()
    except urllib.error.HTTPError:
        return  # something answers (a proxy, an auth layer): MLflow's own calls say what it wants
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(
            f"The MLflow tracking server at {uri} does not answer ({reason}).",
            hint="Start it, or point MLFLOW_TRACKING_URI (or [tool.mlops_nb] tracking_uri) at a running one.",
        ) from None


def client(settings: config.Settings | None = None) -> MlflowClient:
    """An MlflowClient on the project's store (created if needed)."""
    from mlflow import MlflowClient

    settings = ensure_store(settings)
    return MlflowClient(settings.tracking_uri, settings.registry_uri or settings.tracking_uri)


_TRANSIENT = ("database is locked", "UNIQUE constraint failed: datasets")


def retrying(action: Callable[[], T], *, attempts: int = 8, first_delay: float = 0.05) -> T:
    """Run `action`, retrying with backoff on SQLite's transient conflicts between processes: a locked
    database, and two processes inserting the same new dataset at once (MLflow checks, then inserts)."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:
            if not any(text in str(exc) for text in _TRANSIENT) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def _artifact_location(settings: config.Settings, name: str) -> str | None:
    if "://" in settings.artifact_root and not settings.artifact_root.startswith("file://"):
        return f"{settings.artifact_root.rstrip('/')}/{_slug(name)}"
    if settings.tracking_uri.startswith(("http://", "https://")):
        return None  # the tracking server decides (it may proxy artifacts)
    root = Path(settings.artifact_root.removeprefix("file://"))
    return (root / _slug(name)).as_uri()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "experiment"


def experiment_id(name: str, settings: config.Settings | None = None) -> str:
    """The id of experiment `name`, created (with artifacts under the project) when missing."""
    settings = ensure_store(settings)
    mlflow_client = client(settings)
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise StoreError(
                f"Experiment {name!r} is deleted.",
                hint="Restore it (`mlflow experiments restore`) or choose another name.",
            )
        return found.experiment_id
    try:
        return Writer(mlflow_client).create_experiment(name, _artifact_location(settings, name))
    except StoreError:
        again = mlflow_client.get_experiment_by_name(name)  # another process created it first
        if again is None:
            raise
        return again.experiment_id


def ui_command(settings: config.Settings | None = None) -> str:
    """The shell command that opens the MLflow UI on the project's store."""
    settings = settings or config.current()
    if not settings.embedded:
        return f"open {redact(settings.tracking_uri)} (tracking server)"
    return (
        f"mlflow ui --backend-store-uri {settings.tracking_uri} "
        f"--default-artifact-root {Path(settings.artifact_root).as_uri()} --host 127.0.0.1"
    )


class Writer:
    """The one write gateway to MLflow: every write mlops_nb makes goes through it.

    Each write retries SQLite's transient conflicts between processes, batches are cut to MLflow's limits,
    params become text by `param_text`, empty tags are dropped, and MLflow's errors (and the store's I/O
    errors) become a StoreError naming the write.
    """

    PARAMS_PER_BATCH = 100
    TAGS_PER_BATCH = 100
    METRICS_PER_BATCH = 1000
    TAG_VALUE_LIMIT = 5000  # what the UI shows in full; MLflow allows 8000

    def __init__(self, mlflow_client: MlflowClient) -> None:
        self.client = mlflow_client

    def _do(self, what: str, action: Callable[[], T]) -> T:
        from mlflow.exceptions import MlflowException

        try:
            return retrying(action)
        except (MlflowException, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"The MLflow store refused to {what}: {first}") from exc

    # experiments and runs

    def create_experiment(self, name: str, artifact_location: str | None) -> str:
        """A new experiment; returns its id."""
        return self._do(
            f"create experiment {name!r}", lambda: self.client.create_experiment(name, artifact_location)
        )

    def create_run(self, experiment_id: str, tags: Mapping[str, object]) -> Run:
        """A new RUNNING run with `tags` (empty values left out)."""
        text = {key: str(value) for key, value in tags.items() if value not in (None, "")}
        return self._do(
            f"create a run in experiment {experiment_id}",
            lambda: self.client.create_run(experiment_id, tags=text),
        )

    def end_run(self, run_id: str, status: str) -> None:
        """Mark the run FINISHED, FAILED or KILLED."""
        self._do(f"end run {run_id}", lambda: self.client.set_terminated(run_id, status))

    def fail_run(self, run_id: str, error: str, tags: Mapping[str, object] | None = None) -> None:
        """Record `error` (and `tags`) on the run, then mark it FAILED."""
        self.set_tags(run_id, {records.TAG_ERROR: error, **(tags or {})})
        self.end_run(run_id, "FAILED")

    def set_tags(self, run_id: str, tags: Mapping[str, object]) -> None:
        """Set tags (values as text, cut to TAG_VALUE_LIMIT; empty values left out), in batches."""
        from mlflow.entities import RunTag

        items = [
            RunTag(key, str(value)[: self.TAG_VALUE_LIMIT])
            for key, value in tags.items()
            if value not in (None, "")
        ]
        for start in range(0, len(items), self.TAGS_PER_BATCH):
            chunk = items[start : start + self.TAGS_PER_BATCH]
            self._do(f"tag run {run_id}", lambda chunk=chunk: self.client.log_batch(run_id, tags=chunk))

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag from the run."""
        self._do(f"remove tag {key} of run {run_id}", lambda: self.client.delete_tag(run_id, key))

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params, each turned into text by `param_text`, in batches."""
        from mlflow.entities import Param

        items = [Param(key, param_text(value)) for key, value in params.items()]
        for start in range(0, len(items), self.PARAMS_PER_BATCH):
            chunk = items[start : start + self.PARAMS_PER_BATCH]
            self._do(
                f"record params of run {run_id}",
                lambda chunk=chunk: self.client.log_batch(run_id, params=chunk),
            )

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        *,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        """Record one value per metric at `step` (None values left out), in batches. With `model_id`, each
        is also a metric of that logged model computed on the dataset `dataset_name`/`dataset_digest`
        (MLflow's own metric-dataset link), and the model is recorded as an output of the run."""
        from mlflow.entities import LoggedModelOutput, Metric

        now = int(time.time() * 1000)
        link = {"model_id": model_id, "dataset_name": dataset_name, "dataset_digest": dataset_digest}
        items = [
            Metric(key, float(value), now, step, **(link if model_id else {}))
            for key, value in metrics.items()
            if value is not None
        ]
        self.log_metric_points(run_id, items)
        if model_id:
            self._do(
                f"record model {model_id} as an output of run {run_id}",
                lambda: self.client.log_outputs(run_id, [LoggedModelOutput(model_id, step)]),
            )

    def log_metric_points(self, run_id: str, points: Sequence[Metric]) -> None:
        """Record metric points (MLflow `Metric`s), in batches."""
        for start in range(0, len(points), self.METRICS_PER_BATCH):
            chunk = list(points[start : start + self.METRICS_PER_BATCH])
            self._do(
                f"record metrics of run {run_id}",
                lambda chunk=chunk: self.client.log_batch(run_id, metrics=chunk, synchronous=True),
            )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        """Record dataset inputs of the run."""
        self._do(
            f"record the datasets of run {run_id}",
            lambda: self.client.log_inputs(run_id, datasets=list(datasets)),
        )

    # artifacts

    def log_dict(self, run_id: str, data: Any, path: str) -> None:
        """Store `data` as a JSON (or YAML) artifact at `path`."""
        self._do(f"store {path} in run {run_id}", lambda: self.client.log_dict(run_id, data, path))

    def log_text(self, run_id: str, text: str, path: str) -> None:
        """Store `text` as an artifact at `path`."""
        self._do(f"store {path} in run {run_id}", lambda: self.client.log_text(run_id, text, path))

    def log_artifact(self, run_id: str, local_path: str | Path, folder: str | None = None) -> None:
        """Copy a local file into the run's artifacts (under `folder`)."""
        self._do(
            f"store {Path(local_path).name} in run {run_id}",
            lambda: self.client.log_artifact(run_id, str(local_path), folder),
        )

    # registry

    def create_registered_model(self, name: str) -> bool:
        """Create the registered model `name`; False when it exists already (another process made it)."""
        from mlflow.exceptions import MlflowException

        try:
            retrying(lambda: self.client.create_registered_model(name))
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_ALREADY_EXISTS":
                return False
            raise StoreError(f"The MLflow store refused to create registered model {name!r}: {exc}") from exc
        return True

    def create_model_version(self, name: str, source: str, run_id: str | None, **kwargs: Any) -> ModelVersion:
        """A new version of registered model `name` from the model at `source`."""
        return self._do(
            f"create a version of model {name!r}",
            lambda: self.client.create_model_version(name, source, run_id, **kwargs),
        )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `name@alias` at `version` (moving it if another version held it)."""
        self._do(
            f"set {name}@{alias}", lambda: self.client.set_registered_model_alias(name, alias, str(version))
        )

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove `name@alias`."""
        self._do(f"remove {name}@{alias}", lambda: self.client.delete_registered_model_alias(name, alias))

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, object]) -> None:
        """Set tags on a model version (values as text)."""
        for key, value in tags.items():
            self._do(
                f"tag version {version} of {name!r}",
                lambda key=key, value=value: self.client.set_model_version_tag(
                    name, str(version), key, str(value)
                ),
            )

    def delete_version_tag(self, name: str, version: str, key: str) -> None:
        """Remove a tag from a model version."""
        self._do(
            f"remove tag {key} of version {version} of {name!r}",
            lambda: self.client.delete_model_version_tag(name, str(version), key),
        )

    def delete_model_version(self, name: str, version: str) -> None:
        """Delete a model version (undoing a half-made registration)."""
        self._do(
            f"delete version {version} of {name!r}",
            lambda: self.client.delete_model_version(name, str(version)),
        )

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model (undoing one a failed registration created)."""
        self._do(f"delete registered model {name!r}", lambda: self.client.delete_registered_model(name))

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        """Set tags on a logged model."""
        self._do(
            f"tag logged model {model_id}", lambda: self.client.set_logged_model_tags(model_id, dict(tags))
        )


def writer(settings: config.Settings | None = None) -> Writer:
    """The write gateway on the project's store."""
    return Writer(client(settings))
