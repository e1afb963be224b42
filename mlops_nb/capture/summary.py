"""A readable summary of what a tracked run recorded (used by ``mlops-nb summary`` and ``make demo``)."""

from __future__ import annotations

import json
from typing import Any

from mlops_nb import records, store
from mlops_nb.exceptions import NotFoundError


def collect(run_id: str | None = None, *, experiment: str | None = None) -> dict[str, Any]:
    """The run's id, params, splits, metrics, code version and warnings; the latest run when no id is given."""
    client = store.client()
    if run_id is None:
        if experiment:
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise NotFoundError(
                    f"No experiment named {experiment!r}.", hint="`mlflow experiments search` lists them."
                )
            ids = [found.experiment_id]
        else:
            ids = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1) if ids else []
        if not runs:
            raise NotFoundError(
                "The store has no runs yet.", hint="Run a notebook with `%mlops track` first."
            )
        run = runs[0]
    else:
        try:
            run = client.get_run(run_id)
        except Exception as exc:
            raise NotFoundError(f"No run {run_id!r} in {store.config.current().tracking_uri}.") from exc
    tags = run.data.tags
    splits = {}
    for item in run.inputs.dataset_inputs:
        input_tags = {t.key: t.value for t in item.tags}
        profile = json.loads(item.dataset.profile or "{}")
        splits[input_tags.get(records.INPUT_SPLIT, item.dataset.name)] = {
            "context": input_tags.get(records.INPUT_CONTEXT),
            "digest": item.dataset.digest,
            "rows": profile.get("num_rows"),
        }
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment": client.get_experiment(run.info.experiment_id).name,
        "status": run.info.status,
        "mode": tags.get(records.TAG_MODE),
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "splits": splits,
        "code": {
            "notebook": tags.get(records.TAG_NOTEBOOK_PATH) or tags.get(records.SOURCE_NAME),
            "notebook_hash": tags.get(records.TAG_NOTEBOOK_HASH),
            "git_commit": tags.get(records.SOURCE_GIT_COMMIT),
            "git_branch": tags.get(records.SOURCE_GIT_BRANCH),
            "git_dirty": tags.get(records.TAG_GIT_DIRTY),
        },
        "warnings": {
            k.removeprefix(records.TAG_WARNING_PREFIX): v
            for k, v in tags.items()
            if k.startswith(records.TAG_WARNING_PREFIX)
        },
        "artifact_uri": run.info.artifact_uri,
        "mlflow_ui": store.ui_command(),
    }


def render(report: dict[str, Any], *, max_params: int = 20) -> str:
    """The report as aligned text."""
    code = report["code"]
    params = list(report["params"].items())
    lines = [
        f"Run        {report['run_id']} ({report['run_name']}), {report['status']}, mode {report['mode']}",
        f"Experiment {report['experiment']}",
        f"Params     {len(params)}" + ("" if len(params) <= max_params else f" (first {max_params} shown)"),
        *[f"  {k} = {v[:70]}" for k, v in params[:max_params]],
        "Splits",
        *[
            f"  {n:<10} {s['context'] or '':<10} {s['rows']!s:>8} rows  digest {s['digest']}"
            for n, s in report["splits"].items()
        ],
        "Metrics (latest)",
        *[f"  {k:<28} {v:.6g}" for k, v in report["metrics"].items()],
        "Code",
        f"  notebook   {code['notebook']}",
        f"  hash       {code['notebook_hash']}",
        f"  git        {code['git_commit'] or 'not in a git repository'}"
        + (f" on {code['git_branch']}" if code["git_branch"] else "")
        + (" (dirty)" if code["git_dirty"] == "true" else ""),
        "Warnings",
        *([f"  {k}: {v}" for k, v in report["warnings"].items()] or ["  none"]),
        f"Artifacts  {report['artifact_uri']}",
        f"MLflow UI  {report['mlflow_ui']}",
    ]
    return "\n".join(lines)
