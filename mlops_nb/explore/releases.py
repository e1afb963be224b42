"""Releases for the panel's Releases view: per pipeline and environment, the current release and the past
ones, each with its status and smoke-test result. Shapes as in ``api/openapi.yaml`` (ReleaseList)."""

from __future__ import annotations

import re
from typing import Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import checks
from mlops_nb.pipelines import release

_PIPELINE_NAME = re.compile(r"^[\w.\- ]{1,200}$")


def pipeline_name(value: object) -> str:
    """`value` as a pipeline name (the `name` of a pipeline file), or a UsageError."""
    if not isinstance(value, str) or not _PIPELINE_NAME.match(value):
        raise UsageError(
            f"{value!r} is not a pipeline name.",
            hint="A pipeline's `name`: letters, digits, spaces, '.', '_' or '-' (at most 200).",
        )
    return value


def _released_pipelines(settings: Settings) -> list[str]:
    client = store.client(settings)
    experiment = client.get_experiment_by_name(records.RELEASE_EXPERIMENT)
    if experiment is None:
        return []
    names: set[str] = set()
    token = None
    while True:
        page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
        names.update(run.data.tags.get(records.TAG_RELEASE_PIPELINE, "") for run in page)
        token = page.token
        if not token:
            return sorted(name for name in names if name)


def _environment(pipeline: str, env: str, found: list[release.Release]) -> dict[str, Any]:
    live = [r for r in found if r.live]
    current_number = live[-1].number if live else None
    return {
        "pipeline": pipeline,
        "env": env,
        "current": current_number,
        "releases": [
            {**r.to_dict(), "status": release.status(r, current_number)}
            for r in sorted(found, key=lambda r: -r.number)
        ],
    }


def list_releases(pipeline: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Every environment's releases of `pipeline` (or of every released pipeline), newest first."""
    settings = store.ensure_store(settings)
    names = [pipeline_name(pipeline)] if pipeline is not None else None
    environments = []
    with checks.translated("the releases"):
        for name in names if names is not None else _released_pipelines(settings):
            by_env: dict[str, list[release.Release]] = {}
            for item in release.releases(name, settings=settings):
                by_env.setdefault(item.env, []).append(item)
            environments += [_environment(name, env, items) for env, items in sorted(by_env.items())]
    return {"environments": environments}
