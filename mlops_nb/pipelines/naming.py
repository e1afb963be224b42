"""What a pipeline's runs are called and which code version they record.

Names: ``train_classifier alpha=0.001 epochs=10`` for a pipeline run (the parameters the pipeline file or the
command line set, a sweep point's first), ``train_classifier · training`` for a step, and
``train_classifier sweep alpha×epochs (4 points)`` for a sweep, instead of MLflow's random names.

Code version: the git commit, branch and dirty flag of the notebook's repository, the notebook's content hash
and the release, on the pipeline run and on every step run (the training step's kernel records the same).
A release's materialized copy lives outside the repository: its commit comes from the release record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_nb import records
from mlops_nb.capture import code
from mlops_nb.params_text import run_title


def run_name(pipeline: str, values: Mapping[str, Any], first: tuple[str, ...] = ()) -> str:
    """``<pipeline> name=value ...``: the names in `first` (a sweep point's), then the others by name."""
    return run_title(pipeline, dict(values), first)


def step_name(pipeline: str, step: str) -> str:
    """``<pipeline> · <step>``."""
    return run_title(f"{pipeline} · {step}", {})


def sweep_name(pipeline: str, grid: Mapping[str, Any], points: int) -> str:
    """``<pipeline> sweep alpha×epochs (4 points)``."""
    axes = "×".join(grid) or "points"
    return run_title(f"{pipeline} sweep {axes} ({points} point{'s' if points != 1 else ''})", {})


# The tags `code_version` writes, and the pipeline metric beside them: what each step of a pipeline run carries.
CODE_TAGS = (
    records.TAG_RELEASE,
    records.TAG_NOTEBOOK_HASH,
    records.SOURCE_GIT_COMMIT,
    records.TAG_GIT_DIRTY,
    records.SOURCE_GIT_BRANCH,
    records.SOURCE_GIT_REPO_URL,
    records.TAG_PIPELINE_METRIC,
)


def code_version(notebook: Path, release: str | None, pipeline: str, settings: Any = None) -> dict[str, str]:
    """Tags of the code a pipeline run runs: git commit/branch/dirty, the notebook's hash, the release."""
    tags: dict[str, str] = {}
    if release:
        tags[records.TAG_RELEASE] = release
    read = code.read_notebook(notebook)
    if read is not None:
        tags[records.TAG_NOTEBOOK_HASH] = code.notebook_hash(read)
    git = code.git_state(notebook)
    if git is not None:
        tags[records.SOURCE_GIT_COMMIT] = git.commit
        tags[records.TAG_GIT_DIRTY] = str(git.dirty).lower()
        if git.branch:
            tags[records.SOURCE_GIT_BRANCH] = git.branch
        if git.repo_url:
            tags[records.SOURCE_GIT_REPO_URL] = git.repo_url
    elif release and "#" in release:
        tags.update(_released_commit(pipeline, release, settings))
    return tags


def _released_commit(pipeline: str, release: str, settings: Any) -> dict[str, str]:
    """The commit a release recorded (its materialized copy is outside any repository)."""
    from mlops_nb.exceptions import NotFoundError
    from mlops_nb.pipelines import release as release_mod

    env, _, number = release.rpartition("#")
    try:
        found = release_mod.get(pipeline, env, int(number), settings)
    except (NotFoundError, ValueError):
        return {}
    return {records.SOURCE_GIT_COMMIT: found.commit} if found.commit else {}
