"""Which notebook this kernel runs, and what its parameters cells declare."""

from __future__ import annotations

import ast
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from mlops_nb import records
from mlops_nb.capture.code import INJECTED_TAG, PARAMETERS_TAG, cell_source, cell_tags

PAPERMILL_HEADER = "# Parameters"


def find_notebook(user_ns: dict[str, Any] | None = None) -> Path | None:
    """The path of the notebook this kernel executes, or None (plain Python process, unknown front end).

    Tried in order: the runner's ``MLOPS_NB_NOTEBOOK``; ``JPY_SESSION_NAME`` (set by jupyter_server for
    kernels of a session); VS Code's ``__vsc_ipynb_file__``; the running Jupyter servers' sessions matched
    by kernel id; the command line of the process that started the kernel (papermill, nbconvert, nbclient).
    """
    user_ns = user_ns or {}
    for candidate in (
        os.environ.get(records.ENV_NOTEBOOK),
        os.environ.get("JPY_SESSION_NAME"),
        user_ns.get("__vsc_ipynb_file__"),
    ):
        path = _existing(candidate)
        if path:
            return path
    return _from_servers() or _from_parent_process()


def _existing(candidate: str | None, base: Path | None = None) -> Path | None:
    if not candidate or not candidate.endswith(".ipynb"):
        return None
    path = Path(candidate)
    if path.is_absolute():
        return path.resolve() if path.is_file() else None
    # relative: to the starting folder, or a server-relative path whose file sits in the kernel's folder
    for option in ((base or Path.cwd()) / path, (base or Path.cwd()) / path.name):
        if option.is_file():
            return option.resolve()
    return None


def _kernel_id() -> str | None:
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel import get_connection_file

        name = Path(get_connection_file()).stem
    except Exception:
        return None
    return name.removeprefix("kernel-") if name.startswith("kernel-") else None


def _from_servers() -> Path | None:
    kernel_id = _kernel_id()
    if not kernel_id:
        return None
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    for server in list_running_servers():
        url = f"{server['url'].rstrip('/')}/api/sessions"
        request = urllib.request.Request(url, headers={"Authorization": f"token {server.get('token', '')}"})
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                sessions = json.load(response)
        except (OSError, ValueError):
            continue
        for session in sessions:
            if session.get("kernel", {}).get("id") == kernel_id:
                path = Path(server.get("root_dir") or server.get("notebook_dir") or ".") / session.get(
                    "path", ""
                )
                if path.is_file():
                    return path.resolve()
    return None


def _from_parent_process() -> Path | None:
    try:
        import psutil

        parent = psutil.Process().parent()
        if parent is None:
            return None
        args, cwd = parent.cmdline(), Path(parent.cwd())
    except Exception:
        return None
    for arg in args[1:]:
        path = _existing(arg, cwd)
        if path:
            return path  # papermill's first notebook argument is its input
    return None


def parameter_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells tagged ``parameters`` or ``injected-parameters`` (papermill), in order."""
    return [c for c in notebook.get("cells", []) if {PARAMETERS_TAG, INJECTED_TAG} & set(cell_tags(c))]


def assigned_names(source: str) -> list[str]:
    """Names bound at top level by simple (or annotated) assignments in `source`; unparsable source gives []."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and leaf.id not in names:
                    names.append(leaf.id)
    return names


def is_injected(source: str) -> bool:
    """Whether `source` is papermill's injected cell: its first line is exactly the ``# Parameters`` header
    (a parameters cell's own comment may begin with the same words)."""
    return source.lstrip().split("\n", 1)[0].rstrip() == PAPERMILL_HEADER


def injected_names(history: list[str]) -> list[str]:
    """Names papermill's injected cell (found in the kernel's input history by its header) assigns."""
    names: list[str] = []
    for source in history:
        if is_injected(source):
            names += [n for n in assigned_names(source) if n not in names]
    return names


def parameter_names(notebook: dict[str, Any] | None, history: list[str]) -> list[str]:
    """Names of the notebook's parameters: its parameters cell plus papermill's injected cell.

    The injected cell is not in the input notebook on disk, so it is found in the kernel's input
    history by papermill's ``# Parameters`` header.
    """
    names: list[str] = []
    sources = [cell_source(c) for c in parameter_cells(notebook or {})]
    sources += [s for s in history if s.lstrip().startswith(PAPERMILL_HEADER)]
    for source in sources:
        names += [n for n in assigned_names(source) if n not in names]
    return names
