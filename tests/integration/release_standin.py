"""A stand-in for ``mlops_nb.pipelines.release`` (written in parallel) with the interface ISSUE 9 fixes.

The current release of any (pipeline, env) is release 1 of the pipeline file named by the environment
variable MLOPS_NB_TEST_RELEASE (no variable: no release). ``install()`` puts it in place in this process;
run as a script, it installs itself and runs ``mlops-nb ARGS`` (the scheduler processes of the tests).
"""

from __future__ import annotations

import os
import shutil
import sys
import types
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "MLOPS_NB_TEST_RELEASE"


@dataclass(frozen=True)
class Release:
    pipeline: str
    env: str
    number: int
    notebook_hash: str = ""
    commit: str | None = None
    created: str = ""
    author: str = "test"
    smoke_passed: bool = True

    @property
    def tag_value(self) -> str:
        return f"{self.env}#{self.number}"


def current(pipeline: str, env: str, settings: object = None) -> Release | None:
    return Release(pipeline, env, 1) if os.environ.get(VARIABLE) else None


def materialize(release: Release, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(os.environ[VARIABLE], folder / "pipeline.yaml"))


def install() -> None:
    """Put the stand-in where `from mlops_nb.pipelines import release` finds it: in sys.modules and, for a
    process that imported the real module already, as the package's attribute."""
    import mlops_nb.pipelines

    module = types.ModuleType("mlops_nb.pipelines.release")
    module.Release, module.current, module.materialize = Release, current, materialize
    sys.modules["mlops_nb.pipelines.release"] = module
    mlops_nb.pipelines.release = module  # type: ignore[attr-defined]


if __name__ == "__main__":
    install()
    from mlops_nb.cli import main

    sys.exit(main(sys.argv[1:]))
