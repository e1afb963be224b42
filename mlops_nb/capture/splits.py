"""Data splits of a run: each is fingerprinted, profiled and logged as an MLflow dataset input with its
context (training, validation, testing, read from the split's name); rows shared between splits are found."""

from __future__ import annotations

import json
import numbers
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.exceptions import UnsupportedDataError, UsageError

if TYPE_CHECKING:
    from mlops_nb.capture.session import Session


@dataclass
class SplitRecord:
    """What was recorded for one split."""

    name: str
    context: str
    digest: str
    num_rows: int
    num_columns: int
    row_hashes: Any = field(repr=False, default=None)


_SPLIT_NAME = re.compile(r"^(?!\.+$)[\w.\-]{1,200}$")


def context_of(name: str) -> str:
    """The context (training, validation, testing) of a split, from its name; UsageError when it has none."""
    if not _SPLIT_NAME.match(name):
        raise UsageError(
            f"{name!r} is not a split name.", hint="Use letters, digits, _ - . (e.g. train, X_test, val)."
        )
    context = records.split_context(name)
    if context is None:
        raise UsageError(
            f"Cannot tell whether split {name!r} is training, validation or testing data.",
            hint="Name it train, validation or test, or with one of them in it (X_train, y_test, val_df).",
        )
    return context


def record(session: Session, splits: dict[str, Any], seed: int | None) -> dict[str, dict[str, Any]]:
    """Fingerprint and profile each split, remember it on the session and log it as a dataset input;
    returns the profiles. Nothing is written unless every split can be fingerprinted."""
    from mlops_nb.capture import data
    from mlops_nb.capture import profile as profile_mod

    if not splits:
        raise UsageError("No splits given.", hint="Example: log_split(train=X_train, test=X_test, seed=42).")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise UsageError(f"seed must be an integer, got {seed!r}.")
    contexts = {name: context_of(name) for name in splits}
    digests = {}
    for name, value in splits.items():  # fingerprint everything before writing anything
        try:
            digests[name] = data.fingerprint(value)
        except UnsupportedDataError as exc:
            raise UnsupportedDataError(f"Split {name!r}: {exc.message}", hint=exc.hint) from None
    profiles: dict[str, dict[str, Any]] = {}
    for name, value in splits.items():
        context = contexts[name]
        profile = profile_mod.profile(value, name=name, context=context, digest=digests[name], seed=seed)
        profiles[name] = profile
        session.splits[name] = SplitRecord(
            name,
            context,
            digests[name],
            profile["num_rows"],
            profile["num_columns"],
            data.row_hashes(value),
        )
    _log_datasets(
        session, profiles, {name: profile_mod.mlflow_schema(value) for name, value in splits.items()}
    )
    return profiles


def _log_datasets(
    session: Session, profiles: dict[str, dict[str, Any]], schemas: dict[str, dict[str, Any]]
) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    # no run id: MLflow keeps one dataset per name and digest in an experiment, with the first source
    source = {"notebook": str(session.notebook) if session.notebook else sys.argv[0]}
    inputs = [
        DatasetInput(
            Dataset(
                name=name,
                digest=profile["digest"],
                source_type="code",
                source=json.dumps(source),
                schema=json.dumps(schemas[name]),
                profile=json.dumps({"num_rows": profile["num_rows"], "num_columns": profile["num_columns"]}),
            ),
            tags=[
                InputTag(records.INPUT_CONTEXT, profile["context"]),
                InputTag(records.INPUT_SPLIT, name),
            ],
        )
        for name, profile in profiles.items()
    ]
    session.gateway.log_inputs(session.run_id, inputs)
    for name, profile in profiles.items():
        session.gateway.log_dict(session.run_id, profile, records.split_artifact(name))


def overlaps(splits: dict[str, SplitRecord]) -> list[str]:
    """Rows shared between splits of different contexts, as "a∩b: N rows" (labels and parts of one split
    excepted)."""
    from mlops_nb.capture import data

    names = list(splits)
    overlaps = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = splits[first], splits[second]
            if a.context == b.context or a.num_columns != b.num_columns:
                continue  # e.g. X_train and y_train: parts of the same data, not leakage
            if a.num_columns == 1 and (data.has_repeats(a.row_hashes) or data.has_repeats(b.row_hashes)):
                continue  # a label or target column: its values repeat, equal values are not shared rows
            shared = data.shared_row_count(a.row_hashes, b.row_hashes)
            if shared:
                overlaps.append(f"{first}∩{second}: {shared} rows")
    return overlaps
