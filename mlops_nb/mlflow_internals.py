"""MLflow's private names that mlops_nb relies on, all in this one module.

Each is used because MLflow's public API has no equivalent; each has a canary test
(tests/unit/test_mlflow_internals.py) that fails, naming it, when an MLflow release changes it.
`check_version()` warns once when the installed MLflow is not a release these were checked against.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

CHECKED_RELEASES = ("3.17",)  # MLflow major.minor releases whose private names were checked


@functools.cache
def check_version() -> str:
    """MLflow's version; warns (once) when it is not a release whose private names were checked."""
    import mlflow

    release = ".".join(mlflow.__version__.split(".")[:2])
    if release not in CHECKED_RELEASES:
        warnings.warn(
            f"mlops_nb was checked against MLflow {', '.join(CHECKED_RELEASES)}, not {mlflow.__version__}: "
            "run tests/unit/test_mlflow_internals.py to see whether the private names it uses still hold.",
            RuntimeWarning,
            stacklevel=2,
        )
    return mlflow.__version__


def pop_fluent_run(run_id: str) -> None:
    """Drop `run_id` from MLflow's fluent active-run stack without ending the run (`mlflow.end_run()` would
    end it; we end it through the client with our own status)."""
    import mlflow
    from mlflow.tracking import fluent

    check_version()
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        fluent._active_run_stack.get().pop()


def requirement_inference() -> Callable[..., list[str]]:
    """MLflow's function that infers a logged model's requirements (by loading it in a subprocess)."""
    from mlflow.utils import requirements_utils

    check_version()
    return requirements_utils._capture_imported_modules


def replace_requirement_inference(function: Callable[..., list[str]]) -> None:
    """Route MLflow's requirement inference in this process through `function`."""
    from mlflow.utils import requirements_utils

    requirements_utils._capture_imported_modules = function


def warm_package_map() -> None:
    """Fill MLflow's module → package map, which every `log_model` otherwise builds (about 1 s)."""
    from mlflow.utils.requirements_utils import _init_modules_to_packages_map

    _init_modules_to_packages_map()
