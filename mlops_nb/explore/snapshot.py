"""Copy a run's notebook snapshot out of the artifact store so Jupyter can open it.

The copy never goes through a symbolic link below the folder it must stay in (a cloned repository can
plant one pointing anywhere): every folder is opened without following links and checked before anything
is written, and the file is written to a temporary name in the checked folder, then renamed over the old
copy. A snapshot is read only from inside the store's artifact root.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.explore import checks


def artifact_files(client: Any, run_id: str, folder: str) -> list[str]:
    """Paths of the files directly under artifact `folder` of a run."""
    return [f.path for f in client.list_artifacts(run_id, folder) if not f.is_dir]


def _artifact_path(tags: dict[str, str], code_files: Callable[[], list[str]]) -> str | None:
    """The snapshot's artifact path: the run's tag, else the first notebook among its code files."""
    path = tags.get(records.TAG_NOTEBOOK_SNAPSHOT) or next(
        (p for p in code_files() if p.endswith(".ipynb")), None
    )
    if not path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or pure.suffix != ".ipynb":
        return None  # not something we wrote: refuse rather than follow it
    return str(pure)


def local_artifact(settings: Settings, artifact_uri: str, artifact: str) -> Path | None:
    """The snapshot's file when the run's artifacts are local files, or None when they are remote.

    Raises UsageError when the file resolves (through a link or otherwise) outside the store's artifact root.
    """
    parts = urlsplit(artifact_uri)
    if parts.scheme not in ("", "file"):
        return None
    base = Path(url2pathname(parts.path)) if parts.scheme else Path(artifact_uri)
    root = Path(settings.artifact_root.removeprefix("file://")).resolve()
    source = (base / artifact).resolve()
    if not source.is_relative_to(root):
        raise UsageError(
            f"The snapshot {artifact} of this run resolves to {source}, outside the store's artifact root "
            f"{root}; it is not read.",
            hint="Remove the link in the run's artifacts, or set artifact_root in [tool.mlops_nb] to "
            "where the store keeps its artifacts.",
        )
    return source


@contextlib.contextmanager
def _snapshot_file(settings: Settings, client: Any, run: Any, artifact: str) -> Iterator[Path]:
    """The snapshot as a local file: read in place when local (and inside the artifact root), else
    downloaded to a temporary folder."""
    local = local_artifact(settings, run.info.artifact_uri, artifact)
    if local is not None:
        if not local.is_file():
            raise NotFoundError(f"The snapshot {artifact} of run {run.info.run_id} is missing.")
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="mlops-nb-snapshot-") as tmp:
        yield Path(client.download_artifacts(run.info.run_id, artifact, tmp))


def _refuse_link(shown: Path, folder_fd: int, name: str, root: Path, kind: str) -> NoReturn:
    target = os.readlink(name, dir_fd=folder_fd)
    raise UsageError(
        f"{shown} is a symbolic link (to {target}); the snapshot is not written through links, which can "
        f"lead outside the Jupyter server's root {root}. Nothing was written.",
        hint=f"Remove the link; the next request creates a plain {kind} there.",
    )


def _open_folder(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of ``root/parts``, creating missing folders; refuses a link or a file on the way."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    shown = root
    try:
        for part in parts:
            shown = shown / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                    _refuse_link(shown, fd, part, root, "folder")
                if exc.errno == errno.ENOTDIR:
                    raise UsageError(f"{shown} is a file, not a folder.", hint="Move it away.") from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(root: Path, folder: tuple[str, ...], name: str, source: Path) -> Path:
    """Copy `source` to ``root/folder/name`` through a temporary file in the checked folder."""
    fd = _open_folder(root, folder)
    shown = root.joinpath(*folder, name)
    try:
        with contextlib.suppress(FileNotFoundError):
            mode = os.lstat(name, dir_fd=fd).st_mode
            if stat.S_ISLNK(mode):
                _refuse_link(shown, fd, name, root, "file")
            if stat.S_ISDIR(mode):
                raise UsageError(f"{shown} is a folder, not a notebook.", hint="Move it away.")
        temporary = f".{name}.{uuid.uuid4().hex}.tmp"
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=fd)
        try:
            with os.fdopen(out, "wb") as target, source.open("rb") as data:
                while chunk := data.read(1 << 20):
                    target.write(chunk)
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=fd)
            raise
    finally:
        os.close(fd)
    return shown


def copy_snapshot(
    run_id: str, destination: Path, settings: Settings | None = None, *, root: Path | None = None
) -> Path:
    """Copy the snapshot of `run_id` to ``destination/<run_id>/<notebook name>``, replacing older copies.

    Nothing is written through a symbolic link below `root` (default: `destination`), which must hold
    `destination`. Raises UsageError (nothing written) for such a link, NotFoundError for a run without
    a snapshot.
    """
    run_id = checks.run_id(run_id)
    if root is None:
        root, below = destination.resolve(), ()
    else:
        root, destination = root.resolve(), Path(os.path.abspath(destination))
        if not destination.is_relative_to(root):
            raise UsageError(f"The snapshot folder {destination} is outside {root}.")
        below = destination.relative_to(root).parts
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        artifact = _artifact_path(
            dict(run.data.tags), lambda: artifact_files(client, run_id, records.ARTIFACT_CODE_DIR)
        )
        if artifact is None:
            raise NotFoundError(
                f"Run {run_id} has no notebook snapshot.", hint="Runs tracked with %mlops track have one."
            )
        with _snapshot_file(settings, client, run, artifact) as source:
            return write_file(root, (*below, run_id), PurePosixPath(artifact).name, source)
