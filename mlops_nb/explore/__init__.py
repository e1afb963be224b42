"""Read-side queries over the MLflow store, shared by the REST API, the CLI and the notebook widget.

Plain Python returning JSON-ready dicts shaped like ``api/openapi.yaml``; errors are MlopsErrors.
"""

from mlops_nb.explore.comparison import compare
from mlops_nb.explore.experiments import list_experiments
from mlops_nb.explore.outline import pipeline_outline, sweep_outline
from mlops_nb.explore.runs import get_run, list_runs, metric_history
from mlops_nb.explore.snapshot import copy_snapshot
from mlops_nb.explore.table import runs_table

__all__ = [
    "compare",
    "copy_snapshot",
    "get_run",
    "list_experiments",
    "list_runs",
    "metric_history",
    "pipeline_outline",
    "runs_table",
    "sweep_outline",
]
