"""``mlops-nb ci init``: a GitHub Actions workflow, generated from the project's pipeline files, that on every push
installs the project, checks each pipeline's notebook statically and runs each pipeline's smoke test.

Nothing secret is written: a tracking server's address (and MLflow's credential variables, when the project uses
them) are read from the repository's secrets by name, never copied from this machine's environment.
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mlops_nb import config
from mlops_nb.exceptions import UsageError

WORKFLOW = Path(".github/workflows/mlops-nb.yml")
_SKIP = {"node_modules", "site-packages", "__pycache__", "build", "dist"}
_CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def pipeline_files(root: Path) -> list[Path]:
    """The pipeline files of the project: YAML files naming a `notebook` and a `model`, outside hidden folders."""
    found = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        parts = path.relative_to(root).parts[:-1]
        if any(part.startswith(".") or part in _SKIP for part in parts):
            continue
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(raw, dict) and "notebook" in raw and "model" in raw:
            found.append(path)
    return found


def _needs_mlops_nb(root: Path) -> bool:
    """True unless the project is mlops-nb or already depends on it."""
    names = ("mlops-nb", "mlops_nb")
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") in names or any(
            str(d).startswith(names) for d in project.get("dependencies", [])
        ):
            return False
    requirements = root / "requirements.txt"
    return not (requirements.is_file() and any(n in requirements.read_text(encoding="utf-8") for n in names))


def _install(root: Path) -> list[str]:
    commands = ["python -m pip install --upgrade pip"]
    if (root / "pyproject.toml").is_file() or (root / "setup.py").is_file():
        commands.append("python -m pip install .")
    if (root / "requirements.txt").is_file():
        commands.append("python -m pip install -r requirements.txt")
    if _needs_mlops_nb(root):
        commands.append("python -m pip install mlops-nb")
    return commands


def workflow(settings: config.Settings | None = None) -> dict[str, Any]:
    """The workflow as a mapping (what `init` writes as YAML)."""
    from mlops_nb.pipelines import spec as spec_mod

    settings = settings or config.current()
    root = settings.root
    files = pipeline_files(root)
    if not files:
        raise UsageError(
            f"No pipeline file found under {root}.",
            hint="Write one (e.g. pipelines/train.yaml naming `notebook:` and `model:`) first.",
        )
    specs = [spec_mod.load(path) for path in files]

    def rel(path: Path) -> str:
        return shlex.quote(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))

    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {
            "uses": "actions/setup-python@v5",
            "with": {"python-version": f"{sys.version_info.major}.{sys.version_info.minor}"},
        },
        {"name": "install the project", "run": "\n".join(_install(root))},
    ]
    for notebook in dict.fromkeys(spec.notebook for spec in specs):
        steps.append(
            {"name": f"validate {notebook.name}", "run": f"mlops-nb validate {rel(notebook)} --static"}
        )
    for spec in specs:
        steps.append(
            {
                "name": f"smoke test: {spec.name}",
                "run": f"mlops-nb validate {rel(spec.notebook)} --pipeline {rel(spec.path)}",
            }
        )
    job: dict[str, Any] = {"runs-on": "ubuntu-latest", "timeout-minutes": 60}
    uri = settings.tracking_uri
    if "://" in uri and not uri.startswith(("sqlite:", "file:")):  # a server: its address is a secret
        names = ["MLFLOW_TRACKING_URI", *(name for name in _CREDENTIALS if name in os.environ)]
        job["env"] = {name: f"${{{{ secrets.{name} }}}}" for name in names}
    job["steps"] = steps
    return {
        "name": "mlops-nb",
        "on": ["push", "pull_request"],
        "permissions": {"contents": "read"},
        "jobs": {"pipelines": job},
    }


def init(*, force: bool = False, settings: config.Settings | None = None) -> Path:
    """Write the workflow to `.github/workflows/mlops-nb.yml` of the project; returns its path."""
    settings = settings or config.current()
    path = settings.root / WORKFLOW
    if path.exists() and not force:
        raise UsageError(f"{path} exists already.", hint="Pass --force to overwrite it.")
    text = yaml.safe_dump(workflow(settings), sort_keys=False, width=120)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `mlops-nb ci init` from the project's pipeline files; regenerate with --force.\n"
    path.write_text(header + text, encoding="utf-8")
    return path
