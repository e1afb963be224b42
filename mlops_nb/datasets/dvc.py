"""Sources that DVC versions: record their DVC hash and git revision, restore them through DVC.

A file is DVC-tracked here when a ``<file>.dvc`` beside it, or a ``dvc.lock`` in a folder above it (inside the
same git repository), lists it with the md5 of its current content, and that ``.dvc``/``dvc.lock`` file is
committed unchanged. Then the revision holds the file's hash, and ``dvc get <repo> <path> --rev <rev>`` brings
the same bytes back from the DVC cache or remote: no second copy is kept.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from mlops_nb.exceptions import NotFoundError, StoreError


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def md5(path: Path) -> str:
    """The md5 of a file's bytes (DVC 3's file hash)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _outs(record: Path) -> list[tuple[Path, str]]:
    """(absolute path, md5) of every output a ``.dvc`` or ``dvc.lock`` file lists."""
    try:
        data = yaml.safe_load(record.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    if record.name == "dvc.lock":
        outs = [out for stage in (data.get("stages") or {}).values() for out in stage.get("outs") or []]
    else:
        outs = data.get("outs") or []
    return [
        ((record.parent / str(out["path"])).resolve(), str(out["md5"]))
        for out in outs
        if isinstance(out, dict) and out.get("path") and out.get("md5")
    ]


def _records(path: Path, repo: Path) -> list[Path]:
    found = [path.with_name(path.name + ".dvc")]
    folder = path.parent
    while True:
        found.append(folder / "dvc.lock")
        if folder in (repo, folder.parent):
            return [record for record in found if record.is_file()]
        folder = folder.parent


def tracked(path: str | Path) -> dict[str, Any] | None:
    """``{"repo", "path", "md5", "rev"}`` when DVC versions `path`'s current content at the git HEAD, else None."""
    path = Path(path).resolve()
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    repo = Path(top).resolve()
    for record in _records(path, repo):
        for out, recorded in _outs(record):
            if out != path or recorded != md5(path):
                continue
            if _git(repo, "status", "--porcelain", "--", str(record)):
                continue  # changed or not committed: the revision does not hold this hash
            rev = _git(repo, "rev-parse", "HEAD")
            if rev:
                return {"repo": str(repo), "path": str(path.relative_to(repo)), "md5": recorded, "rev": rev}
    return None


def _command() -> list[str]:
    beside = Path(sys.executable).with_name("dvc")
    found = str(beside) if beside.is_file() else shutil.which("dvc")
    if not found:
        raise StoreError(
            "This dataset version is kept by DVC, but the `dvc` command is not installed.",
            hint="pip install dvc",
        )
    return [found]


def restore(kept: dict[str, Any], out: Path) -> Path:
    """Bring the DVC-tracked file back to `out` from its recorded revision (DVC cache or remote), checked
    against its recorded md5."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*_command(), "get", kept["repo"], kept["path"], "--rev", kept["rev"], "-o", str(out), "--force"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.is_file():
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [
            line for line in lines if line.startswith("ERROR")
        ]  # not DVC's closing "Having any troubles?"
        last = (errors or lines or ["no output"])[-1]
        raise NotFoundError(
            f"DVC could not restore {kept['path']} at revision {kept['rev'][:12]} of {kept['repo']}: {last}",
            hint="Check that the commit exists and that the data was pushed (`dvc push`) to the remote.",
        )
    if md5(out) != kept["md5"]:
        raise StoreError(
            f"DVC restored {kept['path']} with md5 {md5(out)}, not the recorded {kept['md5']}.",
            hint="The DVC remote holds other bytes under that hash; check the remote.",
        )
    return out
