"""Starting the online server: check the model and aliases, then run uvicorn with N worker processes."""

from __future__ import annotations

import logging
import os

from mlops_nb import store
from mlops_nb.serving import model_source
from mlops_nb.serving.options import ENV_OPTIONS, ENV_WEBHOOK_SECRET, ServeOptions


def serve(options: ServeOptions) -> None:
    """Serve `options.model` over HTTP until interrupted (SIGINT/SIGTERM end it cleanly, flushing the log).

    Parameters
    ----------
    options:
        What to serve and how: the model, its traffic plan (alias, canary, shadow, A/B or bandit aliases),
        host, port, worker processes, inference log folder, body size limit, alias poll interval and the
        webhook secret. Build it with `mlops_nb.serving.options.build`.

    Raises
    ------
    NotFoundError
        An alias of the plan does not exist for the model.
    ModelLoadError
        A version could not be loaded or failed on its own input example (raised by each worker at start).
    ConfigError
        Contradictory traffic settings (e.g. canary and bandit together).
    """
    import uvicorn

    store.ensure_store()
    for alias in options.plan.aliases():
        model_source.resolve(options.model, alias)  # fail here, with a clear message, before any worker
    print(
        f"mlops-nb: serving {options.model} ({', '.join(options.plan.aliases())}) on http://{options.where}",
        flush=True,
    )
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ[ENV_OPTIONS] = options.to_json()
    if options.webhook_secret:
        os.environ[ENV_WEBHOOK_SECRET] = options.webhook_secret
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "mlops_nb.serving.app:create",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
