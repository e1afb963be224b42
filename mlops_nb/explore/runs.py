"""Runs of an experiment page by page, one run in full, one metric's history."""

from __future__ import annotations

from typing import Any

from mlops_nb import mlflow_internals, records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import NotFoundError, StoreError, UsageError
from mlops_nb.explore import checks, columns, links, metric_data, outcomes, rows, splits
from mlops_nb.explore.snapshot import artifact_files

STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
MAX_PAGE = 1000


def _max_results(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise UsageError(
            f"max_results={value!r} is out of range.", hint=f"Give a whole number from 1 to {MAX_PAGE}."
        )
    return value


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise UsageError(f"{name} must be a string of at most {limit} characters.")
    return value


def list_runs(
    experiment_id: str,
    *,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    page_token: str | None = None,
    max_results: int = 100,
    status: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """One page of an experiment's runs (MLflow search syntax); ``next_page_token`` leads to the rest."""
    experiment_id = checks.experiment_id(experiment_id)
    max_results = _max_results(max_results)
    clauses = [_text("filter", filter_string, 4000).strip()] if filter_string else []
    if status is not None:
        if status not in STATUSES:
            raise UsageError(
                f"status={status!r} is not a run status.", hint=f"Use one of {', '.join(STATUSES)}."
            )
        clauses.append(
            f"tags.`{records.TAG_TRIGGER}` LIKE '%'"  # "scheduled": the runs a trigger started
            if status == "SCHEDULED"
            else f"attributes.status = '{status}'"
        )
    order = [_text("order_by", clause, 500) for clause in order_by or []]
    if len(order) > 10:
        raise UsageError("At most 10 order_by clauses are allowed.")
    if page_token is not None:
        _text("page_token", page_token, 4000)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    try:
        with checks.translated(f"the runs of experiment {experiment_id}"):
            page = client.search_runs(
                [experiment_id],
                filter_string=" and ".join(c for c in clauses if c),
                max_results=max_results,
                order_by=order or None,
                page_token=page_token or None,
            )
    except StoreError:
        if not page_token:
            raise
        with checks.translated(f"the runs of experiment {experiment_id}"):
            client.search_runs([experiment_id], max_results=1)  # the store answers: the token is at fault
        raise UsageError(
            f"page_token {page_token[:40]!r} is not a page token of this store.",
            hint="Pass the next_page_token of the previous page; leave it out for the first page.",
        ) from None
    if not page:  # an empty page: say so when it is because the experiment does not exist
        with checks.translated(f"experiment {experiment_id}"):
            client.get_experiment(experiment_id)
    table = [rows.from_run(run) for run in page]
    total = None
    if settings.embedded and not clauses:
        with mlflow_internals.connect(settings) as conn:
            total = mlflow_internals.run_count(conn, experiment_id)
    return {
        "experiment_id": experiment_id,
        "runs": table,
        "next_page_token": _token(page.token),
        "total_count": total,
        "columns": {
            "params": sorted({key for r in table for key in r["params"]}),
            "metrics": sorted({key for r in table for key in r["metrics"]}),
        },
    }


def _token(token: str | bytes | None) -> str | None:
    """MLflow's page token as text (the SQL store hands out bytes)."""
    if isinstance(token, bytes):
        token = token.decode("ascii")
    return token or None


def _points(settings: Settings, client: Any, run_id: str, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    histories: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    if settings.embedded:
        with mlflow_internals.connect(settings) as conn:
            for _, key, step, value, timestamp in mlflow_internals.metric_points(conn, [run_id], keys):
                histories[key].append({"step": step, "value": rows.finite(value), "timestamp": timestamp})
        return histories
    for key in keys:
        history = client.get_metric_history(run_id, key)
        history.sort(key=lambda m: (m.step, m.timestamp))
        histories[key] = [
            {"step": m.step, "value": rows.finite(m.value), "timestamp": m.timestamp} for m in history
        ]
    return histories


def metric_history(run_id: str, key: str, settings: Settings | None = None) -> dict[str, Any]:
    """Every point of metric `key` of a run, by step then time."""
    run_id = checks.run_id(run_id)
    key = _text("metric key", key, 250)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        if key not in run.data.metrics:
            raise NotFoundError(
                f"Run {run_id} has no metric {key!r}.",
                hint=f"Its metrics: {', '.join(sorted(run.data.metrics)) or 'none'}.",
            )
        points = _points(settings, client, run_id, [key])[key]
    return {"run_id": run_id, "key": key, "points": points}


def _code(
    tags: dict[str, str], code_files: list[str], source: Any = None, release: str | None = None
) -> dict[str, Any]:
    """The CodeVersion of the REST contract; `source` is the training step whose commit and notebook hash a
    pipeline run (or another step) shows, `release` the pipeline run's release tag."""
    if source is not None:
        own = {key: value for key, value in tags.items() if key in (records.TAG_NOTEBOOK_SNAPSHOT,)}
        tags = {**source.data.tags, **own}
    snapshot = tags.get(records.TAG_NOTEBOOK_SNAPSHOT)
    if not snapshot:
        snapshot = next((path for path in code_files if path.endswith(".ipynb")), None)
    dirty = tags.get(records.TAG_GIT_DIRTY)
    return {
        "git_commit": tags.get(records.SOURCE_GIT_COMMIT),
        "git_branch": tags.get(records.SOURCE_GIT_BRANCH),
        "git_repo_url": tags.get(records.SOURCE_GIT_REPO_URL),
        "git_dirty": None if dirty is None else dirty == "true",
        "git_diff_path": records.ARTIFACT_GIT_DIFF if records.ARTIFACT_GIT_DIFF in code_files else None,
        "notebook_path": tags.get(records.TAG_NOTEBOOK_PATH) or tags.get(records.SOURCE_NAME),
        "notebook_hash": tags.get(records.TAG_NOTEBOOK_HASH),
        "snapshot_path": snapshot,
        "execution_order": tags.get(records.TAG_EXECUTION_ORDER),
        "release": release,
        "from_run_id": source.info.run_id if source is not None else None,
    }


def model_versions(client: Any, run_id: str) -> list[dict[str, Any]]:
    """Registered model versions created from run `run_id`, with their aliases."""
    versions = sorted(
        client.search_model_versions(f"run_id = '{run_id}'"), key=lambda mv: (mv.name, int(mv.version))
    )
    aliases: dict[str, dict[str, list[str]]] = {}
    for name in {mv.name for mv in versions}:
        by_version: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        aliases[name] = by_version
    return [
        {
            "name": mv.name,
            "version": str(mv.version),
            "aliases": sorted(aliases[mv.name].get(str(mv.version), [])),
            "status": mv.status,
        }
        for mv in versions
    ]


def get_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """One run in full: row fields, tags, metric histories, splits, code version, children, model versions."""
    run_id = checks.run_id(run_id)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
        code_files = artifact_files(client, run_id, records.ARTIFACT_CODE_DIR)
        # the pipeline's metric and the notebook's own first, autolog's last (the table and small multiples)
        order = columns.key_metrics_first(run.data.metrics, run.data.tags)
        histories = _points(settings, client, run_id, order)
        children = client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.`{records.PARENT_RUN_ID}` = '{run_id}'",
            max_results=1000,
        )
        versions = model_versions(client, run_id)
        run_splits = splits.of_run(client, run)
        tags = dict(run.data.tags)
        pipeline_id = outcomes.run_id_tag(tags, records.TAG_PIPELINE_RUN)
        siblings = children
        pipeline_tags = tags
        if pipeline_id and pipeline_id != run_id:
            siblings = client.search_runs(
                [run.info.experiment_id],
                filter_string=f"tags.`{records.PARENT_RUN_ID}` = '{pipeline_id}'",
                max_results=1000,
            )
            pipeline_tags = dict(client.get_run(pipeline_id).data.tags)
        code_from = outcomes.code_source(run, siblings)
        failure = outcomes.error(settings, client, run, children)
        gate_reports = outcomes.gates(settings, run, children)
        registered = outcomes.registration(client, run, children)
        computed = metric_data.computed_on(run, client)
    detail = rows.from_run(run)
    detail["metrics"] = {name: detail["metrics"][name] for name in order}
    detail.update(
        {
            "experiment_name": experiment.name,
            "lifecycle_stage": run.info.lifecycle_stage,
            "artifact_uri": run.info.artifact_uri,
            "tags": tags,
            "metric_histories": histories,
            "splits": run_splits,
            "code": _code(tags, code_files, code_from, pipeline_tags.get(records.TAG_RELEASE)),
            "tag_groups": outcomes.tag_groups(tags),
            "metric_data": {**outcomes.evaluation_data(tags, run.data.metrics), **computed},
            "error": failure,
            "gates": gate_reports,
            "registration": registered,
            "pipeline_run_id": tags.get(records.TAG_PIPELINE_RUN),
            "child_run_ids": [child.info.run_id for child in children],
            "model_versions": versions,
            "links": {
                "mlflow_ui": links.run_url(settings, run.info.experiment_id, run_id),
                "mlflow_ui_hint": outcomes.ui_hint(settings),
            },
        }
    )
    return detail
