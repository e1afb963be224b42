"""Shared fixtures: an isolated project folder with its own embedded MLflow store, and notebook runners."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_nb.capture import history, session


@contextlib.contextmanager
def _restored_mlflow_and_environment() -> Iterator[None]:
    """The environment (MLflow's set_tracking_uri and set_registry_uri write MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI into it) and MLflow's global tracking and registry URIs, put back as they were."""
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    environ = dict(os.environ)
    tracking_uri, registry_uri = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        tracking_utils._tracking_uri, registry_utils._registry_uri = tracking_uri, registry_uri


@pytest.fixture(autouse=True, scope="module")
def _isolated_module_state() -> Iterator[None]:
    """A module's own fixtures (a project whose pipeline ran once for all its tests) leave nothing behind
    for the next module: this runs before them and restores after them."""
    with _restored_mlflow_and_environment():
        yield


@pytest.fixture(autouse=True)
def _isolated_process_state() -> Iterator[None]:
    """Each test leaves the process as it found it: the environment, MLflow's global URIs and mlops_nb's
    session state."""
    with _restored_mlflow_and_environment():
        yield
        with contextlib.suppress(Exception):
            session.stop()
        session._active = None
        session._host.update(user_ns=None, raw_history=None)
        session.execution_log = history.ExecutionLog()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project (pyproject.toml, own `.mlops/` store) as the working directory."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n', encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLOPS_NB_RUN_ID", raising=False)
    monkeypatch.delenv("MLOPS_NB_NOTEBOOK", raising=False)
    return root
