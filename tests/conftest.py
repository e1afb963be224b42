"""Shared fixtures: an isolated project folder with its own embedded MLflow store, and notebook runners."""

from __future__ import annotations

from pathlib import Path

import pytest


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
