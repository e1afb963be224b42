"""`MODEL@ALIAS` as a command names it: the model version the alias points at, its model and input example.

Used by the one-shot commands (deploy-check, score, export) and by the stream consumer's alias polling.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_nb import store
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.serving.model_source import version_by_alias

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

_REF = re.compile(r"(?P<name>[^@]{1,250})@(?P<alias>[A-Za-z0-9_-]{1,255})")


@dataclass(frozen=True)
class Target:
    """A model version reached through an alias."""

    name: str
    alias: str
    version: ModelVersion

    @property
    def number(self) -> str:
        """The version number as text."""
        return str(self.version.version)

    def __str__(self) -> str:
        return f"{self.name}@{self.alias} (v{self.number})"


def parse(ref: str) -> tuple[str, str]:
    """`MODEL@ALIAS` split into its name and alias; UsageError otherwise."""
    found = _REF.fullmatch(ref or "")
    if not found:
        raise UsageError(
            f"{ref!r} does not name a model by alias.",
            hint="Write MODEL@ALIAS, e.g. iris-classifier@champion.",
        )
    return found["name"], found["alias"]


def version_of(name: str, alias: str, client: MlflowClient) -> ModelVersion:
    """The model version `name@alias` points at now; NotFoundError naming the known aliases otherwise."""
    from mlflow.exceptions import MlflowException

    try:
        return version_by_alias(name, alias, client=client)
    except NotFoundError as exc:
        with contextlib.suppress(MlflowException):
            known = sorted(client.get_registered_model(name).aliases or {})
            raise NotFoundError(
                f"Model {name!r} has no alias {alias!r}.",
                hint=f"Its aliases: {', '.join(known) or '(none)'}.",
            ) from exc
        raise NotFoundError(
            f"There is no registered model {name!r}.", hint="`mlops-nb models` lists them."
        ) from exc


def resolve(ref: str, client: MlflowClient | None = None) -> Target:
    """The target of `MODEL@ALIAS`."""
    name, alias = parse(ref)
    return Target(name, alias, version_of(name, alias, client or store.client()))


def location(version: ModelVersion, client: MlflowClient) -> str:
    """Where the version's model is stored (loadable without a global tracking URI)."""
    from mlops_nb.registry.promotion_gates import _model_location

    return _model_location(client, version)


def load(version: ModelVersion, client: MlflowClient) -> Any:
    """The version's model as an MLflow pyfunc model."""
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.load_model(location(version, client))
    except Exception as exc:
        raise NotFoundError(
            f"Version {version.version} of {version.name!r} cannot be loaded: {_first_line(exc)}",
            hint="Check that its artifacts exist and that its flavor's packages are installed.",
        ) from exc


def input_example(model: Any) -> pd.DataFrame | None:
    """The input example recorded with the model, as a DataFrame (None when none was recorded)."""
    import pandas as pd

    try:
        example = model.input_example
    except Exception:  # an example file that is gone or unreadable counts as none
        return None
    if example is None:
        return None
    return example if isinstance(example, pd.DataFrame) else pd.DataFrame(example)


def input_columns(model: Any) -> list[str] | None:
    """The names of the model's input columns from its signature (None without a named signature)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return None
    return list(schema.input_names())


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
