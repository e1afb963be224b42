"""Code version and environment of a run: git state, the notebook (path, content hash, snapshot), packages."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_nb.redact import redact

SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION_ID|CERT|SALT|DSN", re.I
)
_NOT_SECRET = {"PWD", "OLDPWD"}  # the shell's working folders
INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"


@dataclass(frozen=True)
class GitState:
    """Where the code came from in git."""

    commit: str
    branch: str | None
    dirty: bool
    diff: str
    repo_url: str | None
    root: Path
    untracked: bool = False  # the notebook (or script) itself is not in git


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(path: Path) -> GitState | None:
    """The git commit, branch, dirty flag and uncommitted diff of the repository holding `path`, or None.

    A `path` that is a file git does not track (a new notebook) makes the state dirty: the commit lacks it."""
    folder = path if path.is_dir() else path.parent
    top = _git(["rev-parse", "--show-toplevel"], folder)
    commit = _git(["rev-parse", "HEAD"], folder)
    if not top or not commit:
        return None
    root = Path(top.strip())
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], root) or "").strip() or None
    porcelain = _git(["status", "--porcelain", "--untracked-files=no"], root) or ""
    diff = _git(["diff", "HEAD", "--no-color"], root) or ""
    url = (_git(["config", "--get", "remote.origin.url"], root) or "").strip() or None
    untracked = path.is_file() and _git(["ls-files", "--error-unmatch", "--", str(path)], root) is None
    return GitState(
        commit=commit.strip(),
        branch=None if branch == "HEAD" else branch,
        dirty=bool(porcelain.strip()) or untracked,
        diff=diff,
        repo_url=redact(url) if url else None,
        root=root,
        untracked=untracked,
    )


def read_notebook(path: Path) -> dict[str, Any] | None:
    """The notebook's JSON, or None when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (nbformat stores it as a string or a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def cell_tags(cell: dict[str, Any]) -> list[str]:
    """The cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def notebook_hash(notebook: dict[str, Any]) -> str:
    """sha256 of the cells' types and sources, outputs, metadata and papermill's injected cell ignored."""
    digest = hashlib.sha256()
    for cell in notebook.get("cells", []):
        if INJECTED_TAG in cell_tags(cell):
            continue
        digest.update(cell.get("cell_type", "").encode())
        digest.update(b"\0")
        digest.update(cell_source(cell).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def is_secret(name: str) -> bool:
    """True for environment variable names that look like credentials."""
    return name.upper() not in _NOT_SECRET and bool(SECRET_NAME.search(name))


def environment(kernel: str | None) -> dict[str, Any]:
    """Python, platform, kernel and the non-secret environment variables."""
    return {
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "kernel": kernel,
        "environment_variables": {
            name: redact(value) for name, value in sorted(os.environ.items()) if not is_secret(name)
        },
    }


def packages() -> str:
    """The installed distributions as ``name==version`` lines, sorted."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return "\n".join(seen[k] for k in sorted(seen)) + "\n"


def kernel_name() -> str | None:
    """The name of the Jupyter kernel spec this interpreter serves, or None outside a kernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        manager = KernelSpecManager()
        for name in manager.find_kernel_specs():
            spec = manager.get_kernel_spec(name)
            if (
                spec.argv
                and Path(spec.argv[0]).name != "python"
                and Path(spec.argv[0]) == Path(sys.executable)
            ):
                return name
    except Exception:  # kernel specs are informative only
        return "python3"
    return "python3"
