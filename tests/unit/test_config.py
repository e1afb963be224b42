"""Project settings: defaults, pyproject and mlops.toml tables, environment overrides, bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_nb import config
from mlops_nb.exceptions import ConfigError


def test_default_is_an_embedded_store_in_the_project(project: Path) -> None:
    settings = config.load()
    assert settings.root == project
    assert settings.tracking_uri == f"sqlite:///{project / '.mlops' / 'mlflow.db'}"
    assert settings.embedded and settings.artifact_root == str(project / ".mlops" / "artifacts")


def test_pyproject_table_and_relative_paths(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_NB_PROJECT")
    (project / "pyproject.toml").write_text(
        '[tool.mlops_nb]\ntracking_uri = "sqlite:///store/db.sqlite"\nexperiment = "churn"\n'
        '[tool.mlops_nb.environments.prod]\ntracking_uri = "http://mlflow.internal:5000"\n',
        encoding="utf-8",
    )
    (project / "sub").mkdir()
    settings = config.load(project / "sub")
    assert settings.root == project
    assert settings.tracking_uri == f"sqlite:///{project / 'store' / 'db.sqlite'}"
    assert settings.experiment == "churn" and settings.environments["prod"]["tracking_uri"].startswith(
        "http://"
    )


def test_environment_variable_wins(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "mlops.toml").write_text('tracking_uri = "sqlite:///a.db"\n', encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert config.load().tracking_uri == "http://127.0.0.1:5000"


def test_unknown_key_names_the_file_and_the_known_keys(project: Path) -> None:
    (project / "mlops.toml").write_text('trackin_uri = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"trackin_uri.*mlops.toml.*Known keys: .*tracking_uri"):
        config.load()


def test_invalid_toml_is_reported(project: Path) -> None:
    (project / "mlops.toml").write_text("tracking_uri = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load()
