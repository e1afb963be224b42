"""jupyter_server extension: the REST API under ``/mlops-nb/api/`` (contract: api/openapi.yaml)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join

from mlops_nb import config
from mlops_nb.exceptions import MlopsError
from mlops_nb.redact import redact
from mlops_nb.server.handlers import ROUTES, Context
from mlops_nb.server.reproduction import Jobs

API_PREFIX = "mlops-nb/api"
SNAPSHOT_FOLDER = "mlops-snapshots"


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers; the store is the project's configured one, resolved from the server's root."""
    os.environ.setdefault(
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"
    )  # no progress bars in the server log
    # A tracking server that is down answers the panel in seconds (503), not after MLflow's default
    # retries with backoff, which hold a request and one of the four worker threads for about 4 minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    root = Path(serverapp.root_dir).resolve()
    try:
        settings, problem = config.load(root), None
    except MlopsError as exc:  # e.g. an invalid mlops.toml: every route answers this error instead
        settings, problem = None, exc
        serverapp.log.error("mlops_nb: %s", exc)
    context = Context(
        settings=settings,
        problem=problem,
        executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlops-nb"),
        server_root=root,
        snapshot_dir=root / SNAPSHOT_FOLDER,
        reproductions=Jobs(serverapp.log),
    )
    web_app = serverapp.web_app
    web_app.settings["mlops_nb"] = context
    base = url_path_join(web_app.settings["base_url"], API_PREFIX)
    web_app.add_handlers(".*$", [(url_path_join(base, pattern), handler) for pattern, handler in ROUTES])
    if settings is not None:
        serverapp.log.info("mlops_nb: REST API at %s on store %s", base, redact(settings.tracking_uri))
