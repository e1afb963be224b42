"""The MLflow connection: the embedded SQLite store by default, or any tracking server.

The embedded store is created on first use under a file lock, so several kernels opening a new
store at once do not race through MLflow's schema set-up, and switched to WAL so readers never
block the writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mlops_nb import config
from mlops_nb.exceptions import StoreError
from mlops_nb.redact import redact

if TYPE_CHECKING:
    from mlflow import MlflowClient

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
        return retrying(lambda: mlflow_client.create_experiment(name, _artifact_location(settings, name)))
    except Exception as exc:
        again = mlflow_client.get_experiment_by_name(name)  # another process created it first
        if again is None:
            raise StoreError(f"Could not create experiment {name!r}: {exc}") from exc
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
