"""A notebook's pipeline files, for "Schedule this notebook": the project's pipeline files whose `notebook:` is
that notebook, or a new one written from its parameters cell. Paths are relative to the project (the Jupyter
server's root) and never leave it. Shapes as in ``api/openapi.yaml`` (NotebookPipelines, WritePipeline)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mlops_nb.exceptions import MlopsError, UsageError

_FIELDS = frozenset({"notebook", "data_source", "target", "task", "model_name", "environments"})
_ENV_NAME = re.compile(r"^[A-Za-z][\w-]{0,39}$")


def project_file(value: object, root: Path, suffixes: tuple[str, ...], *, exists: bool = True) -> Path:
    """`value`, a path relative to the project root, as an absolute path inside `root`; a UsageError when it is
    absolute, leaves the root, has another suffix or (with `exists`) names no file."""
    if not isinstance(value, str) or not value or len(value) > 1000 or "\0" in value:
        raise UsageError(f"{value!r} is not a file path.", hint="Give a path relative to the project root.")
    pure = PurePosixPath(value)
    if pure.is_absolute() or ".." in pure.parts:
        raise UsageError(
            f"{value!r} is not inside the project.", hint="Give a path relative to the project root."
        )
    if pure.suffix.lower() not in suffixes:
        raise UsageError(f"{value!r} is not a {' or '.join(suffixes)} file.")
    path = (root / pure).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"{value!r} leads outside the project (a link?).")
    if exists and not path.is_file():
        raise UsageError(f"There is no file {value!r} in the project.")
    return path


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root.resolve()).as_posix()


def _parameters(notebook: Path) -> tuple[list[dict[str, Any]], str | None]:
    from mlops_nb.pipelines import parameters

    try:
        contract = parameters.contract_of(notebook)
    except MlopsError as exc:
        return [], exc.message
    found = []
    for parameter in contract.parameters.values():
        default = parameter.default
        if not isinstance(default, str | int | float | bool | type(None)):
            default = repr(default)
        found.append({"name": parameter.name, "type": parameter.type.describe(), "default": default})
    return found, None


def notebook_pipelines(notebook: str, root: Path) -> dict[str, Any]:
    """The pipeline files naming `notebook`, each with its environments (or the error that keeps it from
    loading), and the notebook's parameters."""
    from mlops_nb.pipelines import ci, spec

    path = project_file(notebook, root, (".ipynb",))
    pipelines = []
    for file in ci.pipeline_files(root.resolve()):
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(raw.get("notebook"), str) or (file.parent / raw["notebook"]).resolve() != path:
            continue
        entry: dict[str, Any] = {"path": _relative(file, root), "name": raw.get("name"), "environments": []}
        try:
            entry["environments"] = list(spec.load(file).environments)
            entry["error"] = None
        except MlopsError as exc:
            entry["error"] = exc.message
        pipelines.append(entry)
    params, problem = _parameters(path)
    return {
        "notebook": _relative(path, root),
        "pipelines": pipelines,
        "parameters": params,
        "problem": problem,
    }


def _field(request: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = request.get(name)
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise UsageError(f"{name} must be a non-empty string (at most 500 characters), not {value!r}.")
    return value


def write_pipeline(request: object, root: Path) -> dict[str, Any]:
    """Write a pipeline file for a notebook from its parameters cell and the request's data source, target,
    model name and environments, beside the notebook as ``<stem>.pipeline.yaml``; check it loads."""
    from mlops_nb.pipelines import spec

    if not isinstance(request, dict):
        raise UsageError('The request body must be a JSON object like {"notebook": "train.ipynb", ...}.')
    unknown = sorted(set(request) - _FIELDS)
    if unknown:
        raise UsageError(f"Unknown field(s) {unknown}.", hint=f"Known: {', '.join(sorted(_FIELDS))}.")
    notebook = project_file(_field(request, "notebook"), root, (".ipynb",))
    source = project_file(_field(request, "data_source"), root, (".csv", ".parquet"))
    envs = request.get("environments") or ["dev"]
    if not isinstance(envs, list) or not all(isinstance(e, str) and _ENV_NAME.match(e) for e in envs):
        raise UsageError(
            f"environments must be a list of names like ['staging', 'prod'], not {envs!r}.",
            hint="Names start with a letter; letters, digits, '_' and '-' (at most 40).",
        )
    target = project_file(
        _relative(notebook.with_name(notebook.stem + ".pipeline.yaml"), root), root, (".yaml",), exists=False
    )
    if target.exists():
        raise UsageError(
            f"{_relative(target, root)} exists already.", hint="Pick it from the notebook's pipeline files."
        )
    params, problem = _parameters(notebook)
    if problem:
        raise UsageError(f"The notebook's parameters cell is invalid: {problem}")
    content = {
        "name": notebook.stem,
        "notebook": notebook.name,
        "parameters": {p["name"]: p["default"] for p in params if p["default"] is not None},
        "data": {"source": os.path.relpath(source, target.parent)},
        "evaluation": {"target": _field(request, "target"), "task": _field(request, "task", False)},
        "model": {"name": _field(request, "model_name")},
        "environments": {env: {} for env in dict.fromkeys(envs)},
    }
    content["evaluation"] = {k: v for k, v in content["evaluation"].items() if v is not None}
    if not content["parameters"]:
        del content["parameters"]
    header = f"# Pipeline for {notebook.name}, written by JupyterLab's 'Schedule this notebook'.\n"
    target.write_text(header + yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    try:
        loaded = spec.load(target)
    except MlopsError:
        target.unlink()
        raise
    return {"path": _relative(target, root), "name": loaded.name, "environments": list(loaded.environments)}
