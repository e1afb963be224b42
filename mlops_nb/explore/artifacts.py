"""A run's artifacts for the artifact browser: one folder's listing, one file's bytes, a notebook copied
under the Jupyter server root.

Paths are relative to the run's artifact root and checked before the store is asked: no absolute path, no
``..``, ``.`` or empty part, no backslash or control character. When the artifacts are local files, every
part of the path is looked at without following links: a symbolic link anywhere below the run's artifact
folder is refused, as is a run folder outside the store's artifact root. Files are read up to MAX_BYTES.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_nb import store
from mlops_nb.config import Settings
from mlops_nb.exceptions import NotFoundError, TooLargeError, UsageError
from mlops_nb.explore import checks
from mlops_nb.explore.snapshot import local_artifact, write_file

MAX_BYTES = 10 << 20  # the largest file shown inline
MAX_ENTRIES = 1000  # a folder lists at most this many entries

_KINDS = {
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".svg": "image",
    ".webp": "image",
    ".ipynb": "notebook",
}
_TEXT = {".txt", ".md", ".log", ".yaml", ".yml", ".csv", ".py", ".diff", ".toml", ".cfg", ".ini", ".tsv"}
_TEXT_NAMES = {"MLmodel", "requirements.txt", "LICENSE"}
MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}


def kind(path: str) -> str:
    """How the browser shows a file: json, text, html, image, notebook or other (download only)."""
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    if suffix in _KINDS:
        return _KINDS[suffix]
    return "text" if suffix in _TEXT or pure.name in _TEXT_NAMES else "other"


def media_type(path: str) -> str:
    """The Content-Type a file is served with: images as themselves, everything else as inert text or
    bytes (an HTML report is never served as HTML; the browser shows it in a sandboxed frame)."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    return "text/plain; charset=utf-8" if kind(path) != "other" else "application/octet-stream"


def _local_checked(settings: Settings, artifact_uri: str, path: str) -> Path | None:
    """The local file or folder of artifact `path` (None when the artifacts are remote), refusing links."""
    base = local_artifact(settings, artifact_uri, ".")
    if base is None:
        return None
    current = base
    for part in [p for p in path.split("/") if p]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            raise NotFoundError(f"The run has no artifact {path!r}.") from None
        if stat.S_ISLNK(mode):
            raise UsageError(
                f"Artifact {path!r} goes through a symbolic link; links are not followed (they can lead "
                "outside the run's artifacts).",
                hint="Remove the link from the run's artifact folder.",
            )
    return current


def list_artifacts(run_id: str, path: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The entries of artifact folder `path` (the root when empty): path, name, is_dir, size, kind."""
    run_id = checks.run_id(run_id)
    path = checks.artifact_path(path, allow_root=True)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        local = _local_checked(settings, run.info.artifact_uri, path)
        if local is not None and path and not local.is_dir():
            raise UsageError(
                f"Artifact {path!r} is a file, not a folder.", hint="Read it with the file route."
            )
        listed = client.list_artifacts(run_id, path or None)
    entries = []
    for item in sorted(listed, key=lambda f: (not f.is_dir, f.path))[:MAX_ENTRIES]:
        if local is not None and stat.S_ISLNK(os.lstat(local / PurePosixPath(item.path).name).st_mode):
            continue  # a link is not an artifact we show
        entries.append(
            {
                "path": item.path,
                "name": PurePosixPath(item.path).name,
                "is_dir": bool(item.is_dir),
                "size": item.file_size,
                "kind": "folder" if item.is_dir else kind(item.path),
            }
        )
    return {"run_id": run_id, "path": path, "entries": entries, "truncated": len(listed) > MAX_ENTRIES}


def _too_large(path: str, size: int) -> TooLargeError:
    return TooLargeError(
        f"Artifact {path!r} is {size} bytes, more than the {MAX_BYTES} bytes shown inline.",
        hint="Download it with `mlflow artifacts download` or open it in the MLflow UI.",
    )


def read_artifact(run_id: str, path: str, settings: Settings | None = None) -> bytes:
    """The bytes of artifact file `path` of a run, at most MAX_BYTES."""
    run_id = checks.run_id(run_id)
    path = checks.artifact_path(path)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        local = _local_checked(settings, run.info.artifact_uri, path)
        if local is not None:
            return _read_local(local, path)
        parent = str(PurePosixPath(path).parent)
        entry = {f.path: f for f in client.list_artifacts(run_id, None if parent == "." else parent)}.get(
            path
        )
        if entry is None or entry.is_dir:
            raise NotFoundError(f"The run has no artifact file {path!r}.")
        if (entry.file_size or 0) > MAX_BYTES:
            raise _too_large(path, entry.file_size)
        with tempfile.TemporaryDirectory(prefix="mlops-nb-artifact-") as tmp:
            return _read_local(Path(client.download_artifacts(run_id, path, tmp)), path)


def _read_local(file: Path, path: str) -> bytes:
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise NotFoundError(f"Artifact {path!r} cannot be read: {exc.strerror}.") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(
                f"Artifact {path!r} is a folder, not a file.", hint="List it with the folder route."
            )
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"Artifact {path!r} is not a regular file.")
        if info.st_size > MAX_BYTES:
            raise _too_large(path, info.st_size)
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_BYTES + 1)[:MAX_BYTES]
    finally:
        os.close(fd)


def copy_notebook(
    run_id: str, path: str, destination: Path, root: Path, settings: Settings | None = None
) -> Path:
    """Copy notebook artifact `path` to ``destination/<run_id>/artifacts/<path>`` under `root` (the Jupyter
    server root) so JupyterLab can open it; nothing is written through a link (see snapshot.py)."""
    path = checks.artifact_path(path)
    if kind(path) != "notebook":
        raise UsageError(
            f"Artifact {path!r} is not a notebook (.ipynb).", hint="Only notebooks open in JupyterLab."
        )
    data = read_artifact(run_id, path, settings)
    root = root.resolve()
    destination = Path(os.path.abspath(destination))
    if not destination.is_relative_to(root):
        raise UsageError(f"The snapshot folder {destination} is outside {root}.")
    pure = PurePosixPath(path)
    folder = (*destination.relative_to(root).parts, run_id, "artifacts", *pure.parent.parts)
    with tempfile.TemporaryDirectory(prefix="mlops-nb-artifact-") as tmp:
        source = Path(tmp) / pure.name
        source.write_bytes(data)
        return write_file(root, folder, pure.name, source)
