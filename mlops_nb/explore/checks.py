"""Input checks shared by the explore queries, and MLflow's errors turned into mlops_nb's."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from mlops_nb.exceptions import MlopsError, NotFoundError, StoreError, UsageError

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_EXPERIMENT_ID = re.compile(r"^[0-9]{1,19}$")


def run_id(value: object) -> str:
    """`value` as a run id, or a UsageError saying what a run id looks like."""
    if not isinstance(value, str) or not _RUN_ID.match(value):
        raise UsageError(
            f"{value!r} is not a run id.", hint="A run id is 32 lowercase hexadecimal characters."
        )
    return value


def experiment_id(value: object) -> str:
    """`value` as an experiment id (digits), or a UsageError."""
    if not isinstance(value, str) or not _EXPERIMENT_ID.match(value):
        raise UsageError(
            f"{value!r} is not an experiment id.", hint="Experiment ids are numbers, e.g. '0' or '12'."
        )
    return value


MAX_ARTIFACT_PATH = 1000


def artifact_path(value: object, *, allow_root: bool = False) -> str:
    """`value` as a clean artifact path relative to a run's artifact root, or a UsageError: no leading
    ``/``, no ``..``, ``.`` or empty part, no backslash or control character."""
    if value is None or value == "":
        if allow_root:
            return ""
        raise UsageError("path is missing.", hint="Give the artifact's path, e.g. path=gates/data.json.")
    if not isinstance(value, str) or len(value) > MAX_ARTIFACT_PATH:
        raise UsageError(f"path must be a string of at most {MAX_ARTIFACT_PATH} characters.")
    bad = [c for c in value if ord(c) < 32 or c in "\\\x7f"]
    if value.startswith("/") or bad or any(part in ("", ".", "..") for part in value.split("/")):
        raise UsageError(
            f"path {value[:80]!r} is not a path inside the run's artifacts.",
            hint="Give a relative path such as gates/data.json: no leading '/', no '..', '.', '//' or '\\'.",
        )
    return value


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn MLflow's errors raised inside the block into NotFoundError, UsageError or StoreError.

    `what` names the thing being read, e.g. ``"run 0af…"``, for the message.
    """
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlopsError:
        raise
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        message = getattr(exc, "message", None) or str(exc)
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise NotFoundError(f"{what} does not exist: {message}") from exc
        if code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}:
            raise UsageError(f"Invalid request for {what}: {message}") from exc
        raise StoreError(f"The MLflow store failed while reading {what}: {message}") from exc
    except OSError as exc:
        raise StoreError(f"The MLflow store could not be read for {what}: {exc}") from exc
