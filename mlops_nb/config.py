"""Project settings, declared once: where the project is and which MLflow store it uses.

Sources, strongest first: environment variables (``MLFLOW_TRACKING_URI``, ``MLOPS_NB_PROJECT``),
``[tool.mlops_nb]`` in the project's ``pyproject.toml`` (or the top level of ``mlops.toml``), defaults.
The default store is embedded: ``sqlite:///<project>/.mlops/mlflow.db`` with artifacts in ``.mlops/artifacts``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_nb import records
from mlops_nb.exceptions import ConfigError

STATE_DIR = ".mlops"
_KNOWN_KEYS = {
    "tracking_uri",
    "registry_uri",
    "artifact_root",
    "experiment",
    "ui_url",
    "environments",
    "scheduler_db",
}


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one project."""

    root: Path
    tracking_uri: str
    artifact_root: str
    registry_uri: str | None = None
    experiment: str | None = None
    ui_url: str | None = None
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler_db: str | None = None  # SQLAlchemy URL of the scheduler's state (None: see mlops_nb.scheduling)

    @property
    def state_dir(self) -> Path:
        """The project's `.mlops/` folder (store, spool, locks)."""
        return self.root / STATE_DIR

    @property
    def embedded(self) -> bool:
        """True when the store is a local SQLite file."""
        return self.tracking_uri.startswith("sqlite:")


def find_root(start: Path | None = None) -> Path:
    """The project root: ``MLOPS_NB_PROJECT``, else the nearest folder up from `start` holding
    ``mlops.toml``, a ``pyproject.toml`` or ``.git``, else `start` itself."""
    env = os.environ.get(records.ENV_PROJECT)
    if env:
        return Path(env).resolve()
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (
            (folder / "mlops.toml").is_file()
            or (folder / "pyproject.toml").is_file()
            or (folder / ".git").exists()
        ):
            return folder
    return start


def _read_table(root: Path) -> tuple[dict[str, Any], Path | None]:
    for name, pick in (
        ("mlops.toml", lambda d: d),
        ("pyproject.toml", lambda d: d.get("tool", {}).get("mlops_nb", {})),
    ):
        path = root / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}.", hint="Fix the file or remove it.") from exc
        table = pick(data)
        if table:
            return table, path
    return {}, None


def _resolve_uri(uri: str, root: Path) -> str:
    """Make a relative ``sqlite:///relative.db`` or plain folder path absolute against the project root."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((root / uri[len("sqlite:///") :]).resolve())
    if "://" not in uri and not uri.startswith("sqlite:"):
        return str((root / uri).resolve())
    return uri


def load(start: Path | None = None) -> Settings:
    """Resolve the settings of the project containing `start` (default: the working directory)."""
    root = find_root(start)
    table, source = _read_table(root)
    unknown = set(table) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {sorted(unknown)} in {source}.",
            hint=f"Known keys: {', '.join(sorted(_KNOWN_KEYS))}.",
        )
    state = root / STATE_DIR
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or table.get("tracking_uri")
    tracking_uri = _resolve_uri(tracking_uri, root) if tracking_uri else f"sqlite:///{state / 'mlflow.db'}"
    artifact_root = table.get("artifact_root")
    artifact_root = _resolve_uri(artifact_root, root) if artifact_root else str(state / "artifacts")
    environments = table.get("environments", {})
    if not isinstance(environments, dict):
        raise ConfigError(
            f"`environments` in {source} must be a table of tables, e.g. [tool.mlops_nb.environments.dev]."
        )
    return Settings(
        root=root,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        registry_uri=os.environ.get("MLFLOW_REGISTRY_URI") or table.get("registry_uri"),
        experiment=table.get("experiment"),
        ui_url=os.environ.get("MLOPS_NB_UI_URL") or table.get("ui_url"),
        environments=environments,
        scheduler_db=_scheduler_db(table, root),
    )


def _scheduler_db(table: dict[str, Any], root: Path) -> str | None:
    url = os.environ.get(records.ENV_SCHEDULER_DB) or table.get("scheduler_db")
    return _resolve_uri(url, root) if url else None


@lru_cache(maxsize=8)
def _cached(cwd: str, env_key: tuple[str | None, ...]) -> Settings:
    return load(Path(cwd))


def current() -> Settings:
    """Settings for the working directory, cached until the directory or the relevant variables change."""
    keys = (
        records.ENV_PROJECT,
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLOPS_NB_UI_URL",
        records.ENV_SCHEDULER_DB,
    )
    return _cached(os.getcwd(), tuple(os.environ.get(k) for k in keys))
