"""How mlops_nb writes into MLflow: tag names, artifact paths and run environment variables.

Every module that reads or writes a run uses these names; nothing spells them out elsewhere.
"""

import re

# Environment variables a pipeline runner sets for the kernel it starts.
ENV_RUN_ID = "MLOPS_NB_RUN_ID"  # attach `%mlops track` to this run instead of opening one
ENV_NOTEBOOK = "MLOPS_NB_NOTEBOOK"  # path of the notebook being executed
ENV_PROJECT = "MLOPS_NB_PROJECT"  # project root (where `.mlops/` lives)
ENV_REQUIREMENTS_CACHE = (
    "MLOPS_NB_REQUIREMENTS_CACHE"  # folder of the run's or sweep's requirement inferences
)
ENV_SCHEDULER_DB = "MLOPS_NB_SCHEDULER_DB"  # SQLAlchemy URL of the scheduler's state database

# MLflow's standard tags.
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
SOURCE_GIT_COMMIT = "mlflow.source.git.commit"
SOURCE_GIT_BRANCH = "mlflow.source.git.branch"
SOURCE_GIT_REPO_URL = "mlflow.source.git.repoURL"
RUN_NAME = "mlflow.runName"
PARENT_RUN_ID = "mlflow.parentRunId"
NOTE = "mlflow.note.content"

# Our tags.
TAG_MODE = "mlops_nb.mode"  # "interactive" | "pipeline"
MODE_INTERACTIVE = "interactive"
MODE_PIPELINE = "pipeline"
TAG_NOTEBOOK_PATH = "mlops_nb.notebook.path"
TAG_NOTEBOOK_HASH = "mlops_nb.notebook.hash"  # sha256 of cell types and sources, outputs stripped
TAG_NOTEBOOK_SNAPSHOT = "mlops_nb.notebook.snapshot"  # artifact path of the snapshot
TAG_GIT_DIRTY = "mlops_nb.git.dirty"  # "true" | "false"
TAG_KERNEL = "mlops_nb.kernel"
TAG_EXECUTION_ORDER = "mlops_nb.execution_order"  # "in_order" | "out_of_order"
EXECUTION_IN_ORDER = "in_order"
EXECUTION_OUT_OF_ORDER = "out_of_order"
TAG_PIPELINE_RUN = "mlops_nb.pipeline.run_id"  # the parent pipeline run of a step run
# What the panel and the widget show by default (explore/columns.py reads these).
PARAM_DATA_PATH = "data_path"  # the parameter a pipeline sets to its ingested rows (internal on its runs)
TAG_PARAMS_USER = "mlops_nb.params.user"  # JSON list: params from the parameters cells and %mlops config
TAG_METRICS_NOTEBOOK = "mlops_nb.metrics.notebook"  # JSON list: keys the notebook logged, most recent last
TAG_METRIC_DATA_PREFIX = (
    "mlops_nb.metric.data."  # + metric key: JSON {split, context, digest} it was computed on
)
TAG_WARNING_PREFIX = "mlops_nb.warning."
TAG_WARNING_EXECUTION_ORDER = TAG_WARNING_PREFIX + "execution_order"
TAG_WARNING_SPLIT_LEAKAGE = TAG_WARNING_PREFIX + "split_leakage"
TAG_WARNING_GIT_DIRTY = TAG_WARNING_PREFIX + "git_dirty"
TAG_WARNING_NOTEBOOK_UNKNOWN = (
    TAG_WARNING_PREFIX + "notebook_unknown"
)  # a kernel whose notebook was not found

# Dataset inputs.
INPUT_CONTEXT = "mlflow.data.context"  # "training" | "validation" | "testing"
INPUT_SPLIT = "mlops_nb.split"  # the split's name as the user gave it

# Artifact paths (relative to the run's artifact root).
ARTIFACT_CODE_DIR = "code"  # notebook snapshot (keeps the notebook's file name) and git.diff
ARTIFACT_GIT_DIFF = "code/git.diff"
ARTIFACT_PACKAGES = "environment/packages.txt"
ARTIFACT_ENVIRONMENT = "environment/environment.json"
ARTIFACT_CONFIG = "config/config.json"
ARTIFACT_SPLITS_DIR = "splits"  # splits/<name>.json: schema + statistics, see capture/profile.py
ARTIFACT_EXECUTION_ORDER = "execution/order.json"

SPLIT_CONTEXTS = {
    "train": "training",
    "training": "training",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "eval": "validation",
    "test": "testing",
    "testing": "testing",
    "holdout": "testing",
}


def split_context(name: str) -> str | None:
    """The dataset context a split's name implies: ``train``, ``X_train``, ``y_test``, ``trainX``, ``val_df``
    give training, testing, validation; None when the name names no context or several."""
    if name.lower() in SPLIT_CONTEXTS:
        return SPLIT_CONTEXTS[name.lower()]
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower())
    found = set()
    for word in words:
        for candidate in (word, word[1:] if word[:1] in "xy" else "", word[:-1] if word[-1:] in "xy" else ""):
            if candidate in SPLIT_CONTEXTS:
                found.add(SPLIT_CONTEXTS[candidate])
    return found.pop() if len(found) == 1 else None


def split_artifact(name: str) -> str:
    """Artifact path of a split's schema and statistics."""
    return f"{ARTIFACT_SPLITS_DIR}/{name}.json"


# Pipelines (mlops_nb.pipelines): parent run = the pipeline run, children = its steps; a sweep run is the
# parent of its pipeline runs.
TAG_PIPELINE_NAME = "mlops_nb.pipeline.name"
TAG_PIPELINE_FILE = "mlops_nb.pipeline.file"
TAG_PIPELINE_ENV = "mlops_nb.pipeline.env"
TAG_PIPELINE_KIND = "mlops_nb.pipeline.kind"  # "pipeline" | "step" | "sweep"
PIPELINE_KIND_PIPELINE = "pipeline"
PIPELINE_KIND_STEP = "step"
PIPELINE_KIND_SWEEP = "sweep"
TAG_PIPELINE_STEP = "mlops_nb.pipeline.step"  # one of the STEP_ names (pipelines/steps.py orders them)
STEP_INGESTION = "ingestion"
STEP_DATA_VALIDATION = "data_validation"
STEP_TRAINING = "training"
STEP_EVALUATION = "evaluation"
STEP_MODEL_VALIDATION = "model_validation"
STEP_REGISTRATION = "registration"
TAG_PIPELINE_METRIC = "mlops_nb.pipeline.metric"  # the pipeline file's model.metric, on its runs and steps
TAG_PIPELINE_ATTEMPT = "mlops_nb.pipeline.attempt"  # 1, 2, ... for retried training steps
TAG_PIPELINE_REGISTRATION = "mlops_nb.pipeline.registration"  # one of the values below
REGISTRATION_DONE = "registered"
REGISTRATION_DEFERRED = "deferred"  # a sweep registers its best point at the end
TAG_ERROR = "mlops_nb.error"  # what failed, on the failed step and on its pipeline run
# TAG_ERROR_KIND values: cell_error | early_exit | dead_kernel | timeout | kernel_start | gate | error
TAG_ERROR_KIND = "mlops_nb.error.kind"
TAG_ERROR_CELL = "mlops_nb.error.cell"  # index of the failing cell in the source notebook
TAG_KERNEL_EXIT_CODE = "mlops_nb.kernel.exit_code"
TAG_DATA_SOURCE = "mlops_nb.data.source"
TAG_DATA_DIGEST = "mlops_nb.data.digest"  # fingerprint of the ingested rows
TAG_DATA_ROWS = "mlops_nb.data.rows"
TAG_DATA_WATERMARK = "mlops_nb.data.watermark"  # maximum of the watermark column among the ingested rows
TAG_GATE_PASSED = "mlops_nb.gate.passed"  # "true" | "false" | GATE_NO_REFERENCE on a gate step
GATE_NO_REFERENCE = "no_reference"  # nothing to compare against yet (no champion)
TAG_MODEL_VERSION = "mlops_nb.model.version"  # on a registration step: the version it created
TAG_SWEEP_RUN = "mlops_nb.sweep.run_id"  # on each pipeline run of a sweep
TAG_SWEEP_POINT = "mlops_nb.sweep.point"  # the point's parameters as JSON
TAG_SWEEP_BEST = "mlops_nb.sweep.best"  # "true" on the best pipeline run of a sweep
ARTIFACT_OUTPUT_NOTEBOOK_DIR = "notebook"  # the executed output notebook of a training step
ARTIFACT_INGESTED_DIR = "data"  # train.parquet and test.parquet handed out by ingestion
ARTIFACT_INGESTED_TEST = "data/test.parquet"  # the held-out test split evaluation scores
ARTIFACT_INGESTED_PROFILE = "data/profile.json"  # statistics of the ingested rows (split format)
ARTIFACT_DATA_REPORT = "gates/data.json"
ARTIFACT_DATA_REPORT_TEXT = "gates/data.txt"  # the same report as a readable table
ARTIFACT_MODEL_REPORT = "gates/model.json"
ARTIFACT_MODEL_REPORT_TEXT = "gates/model.txt"
ARTIFACT_SWEEP_GRID = "sweep/grid.json"  # the grid, fixed values and points of a sweep
ARTIFACT_SWEEP_BEST = "sweep/best.json"  # the best point's parameters
ARTIFACT_EVALUATION = "evaluation/metrics.json"
ARTIFACT_PIPELINE_SUMMARY = "pipeline/summary.json"
ARTIFACT_PIPELINE_FILE_DIR = "pipeline"  # a copy of the pipeline file


# Triggered runs (mlops_nb.scheduling): why a pipeline run started, on its pipeline run.
TAG_TRIGGER = (
    "mlops_nb.trigger"  # cron | interval | data | drift | decay | manual | monitor (a monitoring run)
)
TAG_TRIGGER_SCHEDULE = "mlops_nb.trigger.schedule"  # the schedule id
TAG_TRIGGER_FIRE_TIME = "mlops_nb.trigger.fire_time"  # ISO 8601, UTC
TAG_TRIGGER_EVIDENCE = "mlops_nb.trigger.evidence"  # JSON: new files or rows, drift score, missed firings
TRIGGER_KINDS = ("cron", "interval", "data", "drift", "decay", "manual", "monitor")
ERROR_KIND_ABANDONED = "abandoned"


# Model registry (mlops_nb.registry): aliases, and the tags a model version carries. Its lineage tags reuse
# the run tag names (TAG_PIPELINE_RUN, TAG_NOTEBOOK_HASH, SOURCE_GIT_COMMIT) plus one digest tag per split.
ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"
TAG_MV_DATASET_DIGEST_PREFIX = TAG_DATA_DIGEST + "."  # + split name: the split's full-content fingerprint
TAG_GATE_PREFIX = "mlops_nb.gate."  # gate_tag(gate, field) on model versions
# gate_tag("model", GATE_CHAMPION): the champion version the model gate compared with (NO_CHAMPION: none)
GATE_CHAMPION = "champion"
NO_CHAMPION = "none"
TAG_PROMOTION_PREFIX = "mlops_nb.promotion."
# One JSON record per move that gave this version an alias (or asked for one), numbered 1, 2, ... per version:
# {model, version, alias, env, action, actor, time, reason, forced, previous_version, gates, state, seq}.
TAG_PROMOTION_MOVE_PREFIX = TAG_PROMOTION_PREFIX + "move."
TAG_AUDIT_REPORT = "mlops_nb.audit.report"  # on a model version: runs:/<run id>/<path> of its audit report
ARTIFACT_AUDIT_DIR = "audit"  # audit/<model>-v<version>.html in the version's pipeline run (or its run)


def metric_data_tag(metric: str) -> str:
    """Run tag naming the data split metric `metric` was computed on (when MLflow's own link cannot)."""
    return TAG_METRIC_DATA_PREFIX + metric


def dataset_digest_tag(split: str) -> str:
    """Model version tag holding the digest of the split `split` the model was trained with."""
    return TAG_MV_DATASET_DIGEST_PREFIX + split


def gate_tag(gate: str, field: str = "verdict") -> str:
    """Model version tag with a gate's result at registration: verdict ("passed" | "failed") or summary."""
    return f"{TAG_GATE_PREFIX}{gate}.{field}"


def promotion_move_tag(number: int) -> str:
    """Model version tag holding the JSON record of the version's `number`-th move (1, 2, ...)."""
    return f"{TAG_PROMOTION_MOVE_PREFIX}{number}"


# Releases (mlops_nb.pipelines.release): one run per release of a pipeline to an environment, in experiment
# RELEASE_EXPERIMENT, holding the pinned pipeline file and notebook as artifacts. Its lineage reuses
# TAG_NOTEBOOK_HASH, SOURCE_GIT_COMMIT and TAG_GIT_DIRTY.
TAG_RELEASE = "mlops_nb.release"  # on a pipeline run: the release it ran ("<env>#<number>") or "working-copy"
RELEASE_WORKING_COPY = "working-copy"
RELEASE_EXPERIMENT = "mlops-nb-releases"
TAG_RELEASE_PIPELINE = "mlops_nb.release.pipeline"  # the pipeline's name
TAG_RELEASE_ENV = "mlops_nb.release.env"
TAG_RELEASE_NUMBER = "mlops_nb.release.number"  # 1, 2, ... per (pipeline, environment)
TAG_RELEASE_CLAIMED = "mlops_nb.release.claimed_ns"  # when the number was claimed (ns since the epoch)
TAG_RELEASE_PIPELINE_HASH = "mlops_nb.release.pipeline_hash"  # sha256 of the pipeline file's text
TAG_RELEASE_PIPELINE_FILE = "mlops_nb.release.pipeline_file"  # its path (relative to the project root)
TAG_RELEASE_NOTEBOOK_FILE = "mlops_nb.release.notebook_file"  # the notebook's file name
TAG_RELEASE_AUTHOR = "mlops_nb.release.author"
TAG_RELEASE_CREATED = "mlops_nb.release.created"  # ISO 8601 UTC
TAG_RELEASE_SMOKE = "mlops_nb.release.smoke"  # "pending" | "passed" | "failed"
TAG_RELEASE_SMOKE_RUN = "mlops_nb.release.smoke_run_id"  # the validation run of the smoke test
TAG_RELEASE_FORCED = "mlops_nb.release.forced_reason"  # why the release order was overridden
TAG_RELEASE_ROLLED_BACK = "mlops_nb.release.rolled_back"  # JSON {by, at, reason, to} once rolled back
ARTIFACT_RELEASE_PIPELINE_DIR = "release/pipeline"  # the pipeline file as released
ARTIFACT_RELEASE_NOTEBOOK_DIR = "release/notebook"  # the notebook as released


# Datasets (mlops_nb.datasets): one run per version of a named dataset, in experiment DATASET_EXPERIMENT.
# A run that read a dataset (a pipeline run and its ingestion step, or a notebook run that called
# datasets.load) carries TAG_DATASET_NAME and TAG_DATASET_VERSION too, plus an MLflow dataset input whose
# digest is the version's.
DATASET_EXPERIMENT = "mlops-nb-datasets"
TAG_DATASET_NAME = "mlops_nb.dataset.name"
TAG_DATASET_VERSION = "mlops_nb.dataset.version"  # 1, 2, ... per name
TAG_DATASET_DIGEST = "mlops_nb.dataset.digest"  # the capture fingerprint of the version's rows
TAG_DATASET_ROWS = "mlops_nb.dataset.rows"
TAG_DATASET_COLUMNS = "mlops_nb.dataset.columns"  # JSON list
TAG_DATASET_SOURCE = "mlops_nb.dataset.source"  # the file or glob it was added from
TAG_DATASET_CREATED = "mlops_nb.dataset.created"  # ISO 8601 UTC
TAG_DATASET_AUTHOR = "mlops_nb.dataset.author"
TAG_DATASET_KEY = "mlops_nb.dataset.key"  # JSON list of key columns (may be empty)
TAG_DATASET_DESCRIPTION = "mlops_nb.dataset.description"
TAG_DATASET_SNAPSHOT = "mlops_nb.dataset.snapshot"  # path of the Parquet snapshot, relative to the store
TAG_DATASET_DVC = "mlops_nb.dataset.dvc"  # JSON {repo, path, md5, rev} when DVC keeps the data
ARTIFACT_DATASET_PROFILE = "dataset/profile.json"  # schema + statistics (split format, capture/profile.py)
DATASET_INPUT_CONTEXT = "source"  # the mlflow.data.context of a dataset version read as a run's input

# Reproductions (mlops_nb.pipelines.reproduce): a pipeline run re-run from its record. The reproduction is a pipeline
# run of kind PIPELINE_KIND_REPRODUCTION (so it is never "the previous run" of its pipeline), linked both ways.
PIPELINE_KIND_REPRODUCTION = "reproduction"
TAG_REPRODUCTION_OF = "mlops_nb.reproduction.of"  # on a reproduction run: the pipeline run it reproduces
TAG_REPRODUCED_BY = "mlops_nb.reproduction.by"  # on the reproduced pipeline run: its latest reproduction run
TAG_REPRODUCTION_DATA = "mlops_nb.reproduction.data"  # where its data came from: dataset, snapshot or source
TAG_REPRODUCE_VERDICT = (
    "mlops_nb.reproduction.verdict"  # one of the VERDICT_ values, on both runs and the version
)
TAG_REPRODUCE_RUN = "mlops_nb.reproduction.run_id"  # on a model version: its latest reproduction run
TAG_REPRODUCE_AT = "mlops_nb.reproduction.at"  # on a model version: when (ISO 8601 UTC)
TAG_REPRODUCE_SUMMARY = "mlops_nb.reproduction.summary"  # on a model version: the verdict's reason
REPRODUCE_DATA_MODES = (
    "auto",
    "dataset",
    "snapshot",
    "source",
)  # `reproduce --data`: where the data comes from
VERDICT_REPRODUCED = "reproduced"  # every recorded metric matched within the tolerance
VERDICT_DIFFERS = "differs"  # a metric differs by more than the tolerance, or is missing
VERDICT_FAILED = "failed"  # the reproduction's pipeline run failed
ARTIFACT_REPRODUCTION = (
    "reproduction/report.json"  # on a reproduction run: record, data, environment, metrics
)

# Deployment (mlops_nb.serving): deploy checks, exports and batch scoring, recorded on the model version.
TAG_DEPLOY_CHECK_VERDICT = "mlops_nb.deploy_check.verdict"  # "passed" | "failed"
TAG_DEPLOY_CHECK_AT = "mlops_nb.deploy_check.at"  # ISO 8601 UTC
TAG_DEPLOY_CHECK_SUMMARY = "mlops_nb.deploy_check.summary"  # one line per check
TAG_DEPLOY_CHECK_REPORT = "mlops_nb.deploy_check.report"  # JSON: every check with its details
DEPLOY_CHECK_PASSED = "passed"
DEPLOY_CHECK_FAILED = "failed"
TAG_EXPORT_PREFIX = "mlops_nb.export."  # + format: JSON {at, path, sha256, tolerance, parity, latency}
TAG_BATCH_LAST_RUN = "mlops_nb.batch.last_run"  # on a model version: its latest batch scoring run
BATCH_EXPERIMENT = "mlops-nb-batch-scoring"  # one run per `mlops-nb score`
TAG_BATCH_MODEL = "mlops_nb.batch.model"  # on a batch scoring run: name@alias as asked
TAG_BATCH_MODEL_NAME = "mlops_nb.batch.model_name"
TAG_BATCH_MODEL_VERSION = "mlops_nb.batch.model_version"
TAG_BATCH_INPUT = "mlops_nb.batch.input"  # absolute path of the input file
TAG_BATCH_INPUT_DIGEST = "mlops_nb.batch.input_digest"  # sha256 of the input file's bytes
TAG_BATCH_OUTPUT = "mlops_nb.batch.output"  # absolute path of the output file
TAG_BATCH_ROWS = "mlops_nb.batch.rows"
TAG_BATCH_HOST = "mlops_nb.batch.host"  # the machine a batch scoring ran on


def export_tag(fmt: str) -> str:
    """Model version tag recording the latest export of the version to `fmt` (e.g. onnx)."""
    return TAG_EXPORT_PREFIX + fmt


# Serving (mlops_nb.serving): where a model version is or was served. One tag per (server address, alias):
# JSON {where, alias, variant, share, since, until}. The inference log and feedback live in the project.
TAG_DEPLOYMENT_PREFIX = "mlops_nb.deployment."
STATE_INFERENCE_DIR = "inference"  # <project>/.mlops/inference/<model>/part-*.parquet
STATE_FEEDBACK_DIR = "feedback"  # <project>/.mlops/feedback/<model>/part-*.parquet


def deployment_tag(where: str, alias: str) -> str:
    """Model version tag recording its deployment at server address `where` under `alias`."""
    return TAG_DEPLOYMENT_PREFIX + re.sub(r"[^\w.\-]", "_", f"{where}.{alias}")


# Monitoring (mlops_nb.monitoring): one run per monitoring pass, in experiment MONITORING_EXPERIMENT, linked to the
# model version it judged (and the version to its last pass). Verdicts: ok | drift | decay | insufficient data |
# not computed. Metric names: drift.<feature>.psi / .effect_size, prediction.psi, decay.live, health.*.
MONITORING_EXPERIMENT = "mlops-nb-monitoring"
TAG_MONITOR_MODEL = "mlops_nb.monitor.model"
TAG_MONITOR_VERSION = "mlops_nb.monitor.version"
TAG_MONITOR_ALIAS = "mlops_nb.monitor.alias"
TAG_MONITOR_WINDOW = "mlops_nb.monitor.window"
TAG_MONITOR_VERDICT = "mlops_nb.monitor.verdict"  # the pass's overall verdict: ok | drift | decay
TAG_MONITOR_CHECK_PREFIX = "mlops_nb.monitor.verdict."  # + prediction | decay | health | feature.<name>
TAG_MONITOR_TRIGGERS = "mlops_nb.monitor.triggers"  # JSON list: {kind, firing} raised or {kind, skipped}
TAG_MV_MONITOR_RUN = "mlops_nb.monitor.last_run"  # on a model version: its latest monitoring run
TAG_TRIGGER_MONITORING_RUN = "mlops_nb.trigger.monitoring_run"  # on a retraining run: the pass that raised it
ARTIFACT_MONITOR_REPORT = "monitoring/report.html"
ARTIFACT_MONITOR_RESULT = "monitoring/result.json"  # the pass's verdicts and numbers (`monitor --json`)
