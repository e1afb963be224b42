"""Links into the MLflow UI, when the project configures its URL (`ui_url`)."""

from __future__ import annotations

from mlops_nb.config import Settings


def experiment_url(settings: Settings, experiment_id: str) -> str | None:
    """The experiment's page in the MLflow UI, or None without a configured UI."""
    if not settings.ui_url:
        return None
    return f"{settings.ui_url.rstrip('/')}/#/experiments/{experiment_id}"


def run_url(settings: Settings, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI, or None without a configured UI."""
    base = experiment_url(settings, experiment_id)
    return f"{base}/runs/{run_id}" if base else None


def model_version_url(settings: Settings, name: str, version: str) -> str | None:
    """The model version's page in the MLflow UI, or None without a configured UI."""
    if not settings.ui_url:
        return None
    from urllib.parse import quote

    return f"{settings.ui_url.rstrip('/')}/#/models/{quote(name, safe='')}/versions/{version}"
