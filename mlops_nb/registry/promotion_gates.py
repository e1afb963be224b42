"""The gates a model version passes before it is promoted, read from what its pipeline run recorded.

- data validation: the data gate passed when the version's pipeline run ran (or had no reference yet);
- model validation: the model gate passed against the *current* holder of the alias. The version records
  which champion its gate compared with (`records.gate_tag("model", records.GATE_CHAMPION)`); when the
  champion has changed since, both models are scored again on the candidate's held-out test split (its
  pipeline run's ingested `data/test.parquet`) and compared with the pipeline file's `gates.model`;
- lineage: notebook hash, git commit, dataset digests and pipeline run are all recorded;
- clean tree: the training run's git dirty flag is false.

The pipeline file of a version is the one its pipeline run names (`records.TAG_PIPELINE_FILE`), read as it is
now: environments, approval and thresholds are policy, so a change to them applies to versions made earlier.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from mlops_nb.pipelines.spec import PipelineSpec

DATA = "data validation"
MODEL = "model validation"
LINEAGE = "lineage"
CLEAN = "clean tree"
ORDER = "environment order"
DEPLOY = "deploy check"


@dataclass(frozen=True)
class Gate:
    """One promotion gate: its verdict, a sentence with the values behind it, and those values."""

    name: str
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The gate as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gate:
        """A gate from `to_dict`'s output."""
        return cls(
            str(data["name"]), bool(data["passed"]), str(data["message"]), dict(data.get("details") or {})
        )


def pipeline_spec(client: MlflowClient, version: ModelVersion) -> tuple[PipelineSpec | None, str]:
    """The pipeline file the version's pipeline run names, and where it came from (or why there is none)."""
    from mlops_nb.pipelines import spec as spec_mod

    pipeline_run = (version.tags or {}).get(records.TAG_PIPELINE_RUN)
    if not pipeline_run:
        return None, "the version was not made by a pipeline run"
    try:
        path = client.get_run(pipeline_run).data.tags.get(records.TAG_PIPELINE_FILE)
    except Exception as exc:  # a deleted pipeline run
        return None, f"its pipeline run {pipeline_run} cannot be read ({exc})"
    if not path or not Path(path).is_file():
        return None, f"the pipeline file {path or '(not recorded)'} of run {pipeline_run} does not exist"
    return spec_mod.load(path), str(path)


def check(
    client: MlflowClient, version: ModelVersion, alias: str, spec: PipelineSpec | None, origin: str
) -> list[Gate]:
    """The gates of `version` for a move of `alias` (data, model, lineage, clean tree)."""
    return [
        _data_gate(client, version),
        _model_gate(client, version, alias, spec, origin),
        _lineage_gate(version),
        _clean_gate(client, version),
    ]


def _data_gate(client: MlflowClient, version: ModelVersion) -> Gate:
    tags = version.tags or {}
    verdict = tags.get(records.gate_tag("data"))
    if verdict:
        summary = tags.get(records.gate_tag("data", "summary")) or f"data gate {verdict}"
        return Gate(DATA, verdict == "passed", summary, {"verdict": verdict})
    step = _step(client, version, records.STEP_DATA_VALIDATION)
    passed = step.data.tags.get(records.TAG_GATE_PASSED) if step else None
    if passed == "no_reference":
        return Gate(
            DATA, True, "Passed: the first run had no reference data to compare with.", {"verdict": passed}
        )
    return Gate(DATA, False, "No data validation is recorded for this version.", {"verdict": passed})


def _model_gate(
    client: MlflowClient, version: ModelVersion, alias: str, spec: PipelineSpec | None, origin: str
) -> Gate:
    from mlops_nb.registry.register import champion

    tags = version.tags or {}
    verdict = tags.get(records.gate_tag("model"))
    if not verdict:
        return Gate(MODEL, False, "No model validation is recorded for this version.", {})
    recorded = tags.get(records.gate_tag("model", records.GATE_CHAMPION))  # None: not recorded
    holder = champion(version.name, alias=alias, client=client)
    current = str(holder.version) if holder else records.NO_CHAMPION
    details: dict[str, Any] = {
        "alias": alias,
        "champion": current,
        "compared_with": recorded,
        "rescored": False,
    }
    if recorded == current or (recorded is None and holder is None):
        summary = tags.get(records.gate_tag("model", "summary")) or f"model gate {verdict}"
        step = _step(client, version, records.STEP_MODEL_VALIDATION)
        if step is not None:
            with contextlib.suppress(Exception):
                details["report"] = _load_json(client, step.info.run_id, records.ARTIFACT_MODEL_REPORT)
        return Gate(MODEL, verdict == "passed", summary, details)
    changed = f"{alias} is v{current}, the gate compared with {_named(recorded)}"
    if spec is None:
        message = f"{changed}, and both cannot be scored again: {origin}."
        return Gate(MODEL, False, message, details)
    report = _rescore(client, version, holder, spec)
    if report is None:
        return Gate(
            MODEL, False, f"{changed}, and its pipeline run has no test split to score both on.", details
        )
    details.update(rescored=True, report=report.to_dict())
    message = f"Scored again on v{version.version}'s test split ({changed}). {report.summary()}"
    return Gate(MODEL, report.passed, message, details)


def _named(recorded: str | None) -> str:
    if recorded is None:
        return "an unrecorded champion"
    return "no champion" if recorded == records.NO_CHAMPION else f"v{recorded}"


def _rescore(
    client: MlflowClient, version: ModelVersion, holder: ModelVersion | None, spec: PipelineSpec
) -> Any:
    """The model gate of `version` against `holder`, both scored on `version`'s held-out test split
    (None when its pipeline run has no ingestion step to take that split from)."""
    from mlops_nb.gates.model import validate_model
    from mlops_nb.pipelines.evaluation import evaluate

    ingestion = _step(client, version, records.STEP_INGESTION)
    if ingestion is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder:
        test = Path(client.download_artifacts(ingestion.info.run_id, records.ARTIFACT_INGESTED_TEST, folder))

        def score(of: ModelVersion) -> dict[str, float]:
            where = _model_location(client, of)
            options = {"target": spec.target, "task": spec.task, "slice_column": spec.slice_column}
            return evaluate(where, test, **options).metrics()

        candidate = score(version)
        baseline = score(holder) if holder is not None else None
    return validate_model(candidate, baseline, spec.model_gate)


def _model_location(client: MlflowClient, version: ModelVersion) -> str:
    """Where the version's model is stored (loadable without a global tracking URI)."""
    model_id = getattr(version, "model_id", None) or (version.source or "").removeprefix("models:/")
    if model_id and "/" not in model_id:
        with contextlib.suppress(Exception):
            return client.get_logged_model(model_id).artifact_location
    return version.source or ""


def deploy_gate(version: ModelVersion) -> Gate:
    """A passing `mlops-nb deploy-check` is recorded on the version (for `deploy_check: required`)."""
    tags = version.tags or {}
    verdict = tags.get(records.TAG_DEPLOY_CHECK_VERDICT)
    details = {"verdict": verdict, "at": tags.get(records.TAG_DEPLOY_CHECK_AT)}
    ref = f"{version.name}@ALIAS"
    if verdict is None:
        return Gate(
            DEPLOY, False, f"No deploy-check is recorded: run `mlops-nb deploy-check {ref}`.", details
        )
    summary = (tags.get(records.TAG_DEPLOY_CHECK_SUMMARY) or "").replace("\n", "; ")
    if verdict != records.DEPLOY_CHECK_PASSED:
        return Gate(DEPLOY, False, f"The deploy-check of {details['at']} failed: {summary}", details)
    return Gate(DEPLOY, True, f"Passed at {details['at']}.", details)


def _lineage_gate(version: ModelVersion) -> Gate:
    tags = version.tags or {}
    needed = {
        "notebook hash": tags.get(records.TAG_NOTEBOOK_HASH),
        "git commit": tags.get(records.SOURCE_GIT_COMMIT),
        "pipeline run": tags.get(records.TAG_PIPELINE_RUN),
    }
    digests = {
        key.removeprefix(records.TAG_MV_DATASET_DIGEST_PREFIX): value
        for key, value in tags.items()
        if key.startswith(records.TAG_MV_DATASET_DIGEST_PREFIX) and value
    }
    missing = [name for name, value in needed.items() if not value] + ([] if digests else ["dataset digests"])
    details = {**needed, "dataset digests": digests}
    if missing:
        return Gate(LINEAGE, False, f"Lineage incomplete: no {', no '.join(missing)} recorded.", details)
    return Gate(
        LINEAGE, True, f"Complete: {len(digests)} dataset digests, commit {needed['git commit']}.", details
    )


def _clean_gate(client: MlflowClient, version: ModelVersion) -> Gate:
    dirty = None
    if version.run_id:
        with contextlib.suppress(Exception):
            dirty = client.get_run(version.run_id).data.tags.get(records.TAG_GIT_DIRTY)
    details = {"training_run": version.run_id, "git_dirty": dirty}
    if dirty == "false":
        return Gate(CLEAN, True, "Trained from a clean git tree.", details)
    if dirty == "true":
        diff = f"{records.ARTIFACT_GIT_DIFF} of run {version.run_id}"
        return Gate(CLEAN, False, f"Trained from a tree with uncommitted changes (see {diff}).", details)
    return Gate(
        CLEAN, False, "No git state is recorded for the training run (not in a git repository?).", details
    )


def _step(client: MlflowClient, version: ModelVersion, step: str) -> Any:
    from mlops_nb.pipelines.reference import pipeline_step

    pipeline_run = (version.tags or {}).get(records.TAG_PIPELINE_RUN)
    if not pipeline_run:
        return None
    with contextlib.suppress(Exception):  # a deleted pipeline run has no steps
        return pipeline_step(pipeline_run, step, client=client)
    return None


def _load_json(client: MlflowClient, run_id: str, path: str) -> dict[str, Any]:
    from mlops_nb.pipelines.reference import load_json

    return load_json(client, run_id, path)
