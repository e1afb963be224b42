"""Which data each metric of a run was computed on.

Two records, read together:

- MLflow's own link: a metric logged with a logged model and a dataset (``Metric.dataset_name`` /
  ``dataset_digest``), as the pipeline's evaluation logs the holdout scores on its step and its pipeline run;
  the run lists the model among its outputs.
- ``mlops_nb.metric.data.<key>`` tags (records.metric_data_tag), written by a notebook's session for the
  metrics it logged: the split given to ``log_metrics(..., split=)`` or implied by the metric's name.

``computed_on(run, client) -> {key: {"dataset", "digest", "context", "source"}}``, source being ``"mlflow"``
or ``"notebook"``; metrics with neither record are left out.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_nb import records


def from_tags(tags: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per metric key, the data it was computed on from the ``records.metric_data_tag`` tags alone (what a
    compare of many runs reads), in the shape of ``computed_on``."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in tags.items():
        if not key.startswith(records.TAG_METRIC_DATA_PREFIX):
            continue
        try:
            data = json.loads(value)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("split"):
            found[key.removeprefix(records.TAG_METRIC_DATA_PREFIX)] = {
                "dataset": str(data["split"]),
                "digest": None if data.get("digest") is None else str(data["digest"]),
                "context": None if data.get("context") is None else str(data["context"]),
                "source": "notebook",
            }
    return found


def computed_on(run: Any, client: Any) -> dict[str, dict[str, Any]]:
    """The data each metric of `run` (an MLflow Run) was computed on; see the module docstring."""
    run_id = run.info.run_id
    found = from_tags(dict(run.data.tags))
    contexts = {
        (i.dataset.name, i.dataset.digest): next(
            (t.value for t in i.tags if t.key == records.INPUT_CONTEXT), None
        )
        for i in (run.inputs.dataset_inputs if run.inputs is not None else [])
    }
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    for model_id in dict.fromkeys(output.model_id for output in outputs):
        for metric in client.get_logged_model(model_id).metrics or []:
            if metric.run_id == run_id and metric.dataset_name and metric.key in run.data.metrics:
                found[metric.key] = {
                    "dataset": metric.dataset_name,
                    "digest": metric.dataset_digest,
                    "context": contexts.get((metric.dataset_name, metric.dataset_digest)),
                    "source": "mlflow",
                    "model_id": model_id,
                }
    return found
