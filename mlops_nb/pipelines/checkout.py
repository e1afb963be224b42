"""The code a run ran, brought back: a temporary git worktree at its commit, with its uncommitted diff applied.

The worktree is made in the repository that holds the project and removed afterwards (the repository keeps
nothing of it). An unknown commit, a diff that does not apply or a notebook whose content hash is not the
recorded one stop it with an error saying what is missing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_nb.capture.code import notebook_hash
from mlops_nb.exceptions import ConfigError, NotFoundError

_TIMEOUT = 300  # seconds a git command may take (a checkout of a large repository)


@dataclass(frozen=True)
class Checkout:
    """A temporary worktree of `repo` at `commit`."""

    repo: Path  # the repository's top folder
    folder: Path  # the worktree
    commit: str
    diff_applied: bool

    def path(self, original: Path) -> Path:
        """The worktree's copy of `original`, a path inside the repository; ConfigError when it is outside."""
        try:
            return self.folder / Path(original).resolve().relative_to(self.repo)
        except ValueError:
            raise ConfigError(
                f"{original} is outside the git repository {self.repo}, so its code cannot be brought back.",
                hint="Keep the pipeline file and the notebook in the project's repository.",
            ) from None


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT, check=False
    )


def repository(path: Path) -> Path:
    """The top folder of the git repository holding `path`; ConfigError outside one."""
    folder = path if path.is_dir() else path.parent
    done = _git(["rev-parse", "--show-toplevel"], folder) if folder.is_dir() else None
    if done is None or done.returncode != 0:
        raise ConfigError(
            f"{path} is not in a git repository: the recorded commit cannot be checked out.",
            hint="Run mlops-nb reproduce from a clone of the repository the model was trained in.",
        )
    return Path(done.stdout.strip()).resolve()


@contextlib.contextmanager
def checkout(repo: Path, commit: str, diff: str | None, *, what: str) -> Iterator[Checkout]:
    """A worktree of `repo` at `commit` with `diff` applied, removed on exit. `what` names the record
    (e.g. ``version 3 of iris``) in the errors."""
    known = _git(["cat-file", "-e", f"{commit}^{{commit}}"], repo)
    if known.returncode != 0:
        raise NotFoundError(
            f"Commit {commit} recorded by {what} is not in the repository {repo}: the code it was trained "
            "with cannot be checked out.",
            hint="Fetch it (git fetch --all, or from the clone it was committed in) and reproduce again; a "
            "commit that was never pushed or was rebased away is missing for good.",
        )
    parent = Path(tempfile.mkdtemp(prefix="mlops-nb-reproduce-"))
    folder = parent / "code"
    try:
        made = _git(["worktree", "add", "--detach", str(folder), commit], repo)
        if made.returncode != 0:
            raise ConfigError(
                f"Could not check out commit {commit} of {repo}: {made.stderr.strip()}",
                hint="Check that the repository is readable and the disk has room.",
            )
        applied = False
        if diff and diff.strip():
            patch = parent / "recorded.diff"
            patch.write_text(diff if diff.endswith("\n") else diff + "\n", encoding="utf-8")
            done = _git(["apply", "--whitespace=nowarn", str(patch)], folder)
            if done.returncode != 0:
                raise ConfigError(
                    f"The uncommitted changes recorded by {what} do not apply to commit {commit}: "
                    f"{done.stderr.strip()}",
                    hint="The recorded diff (code/git.diff of the training run) is incomplete or damaged.",
                )
            applied = True
        yield Checkout(repo, folder, commit, applied)
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _git(["worktree", "remove", "--force", str(folder)], repo)
            _git(["worktree", "prune"], repo)
        shutil.rmtree(parent, ignore_errors=True)


def check_notebook(path: Path, expected: str | None, *, what: str) -> None:
    """Raise unless the notebook at `path` has the content hash `expected` (no check without one)."""
    if not expected:
        return
    if not path.is_file():
        raise NotFoundError(
            f"The notebook {path.name} that {what} was trained with is not in the checked-out code ({path}).",
            hint="It was not committed; commit it, or keep the notebook snapshot artifact of the training run.",
        )
    actual = notebook_hash(json.loads(path.read_text(encoding="utf-8")))
    if actual != expected:
        raise ConfigError(
            f"The notebook {path.name} brought back for {what} has content hash {actual[:12]}, not the recorded "
            f"{expected[:12]}: the commit and the recorded diff do not give the code it was trained with.",
            hint="The training run's code/git.diff is missing or incomplete; nothing was run.",
        )
