"""One notebook, two modes, one record: the same notebook with the same parameters records the same params
whether a person runs it (a kernel, no papermill) or `mlops-nb run` does."""

from __future__ import annotations

import os

import mlflow
import nbformat
import pandas as pd
from nbclient import NotebookClient
from sklearn.linear_model import Ridge

import mlops_nb
from mlops_nb import records
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def test_params_are_identical_run_interactively_and_by_the_pipeline(project: Project) -> None:
    train = project.root / "train.parquet"
    pd.read_csv(project.data).to_parquet(train)
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[2].source = (
        nb.cells[2].source.replace("data_path: str | None = None", f"data_path: str | None = {str(train)!r}")
        + '\nscale: bool = True\nnames: list = ["x1", "x2"]\nweights: dict = {"a": 0.5}\nnote: str | None = None'
    )
    nbformat.write(nb, project.notebook)

    # A person runs the notebook top to bottom in a kernel of their own (jupyter_server names a session's
    # notebook to its kernel in JPY_SESSION_NAME).
    NotebookClient(
        nbformat.read(project.notebook, as_version=4),
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(project.notebook.parent)}},
    ).execute(env={**os.environ, "JPY_SESSION_NAME": str(project.notebook)})
    client = project.client
    experiments = [e.experiment_id for e in client.search_experiments()]
    (interactive,) = client.search_runs(
        experiments, f"tags.`{records.TAG_MODE}` = '{records.MODE_INTERACTIVE}'"
    )

    result = run.run(project.pipeline, run.RunOptions(progress=False))
    training = project.steps(result.run_id)["training"]

    def notebook_params(params: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in params.items() if k != "data_path"}  # the pipeline hands out its own data

    expected = notebook_params(interactive.data.params)
    assert expected["scale"] == "True" and expected["note"] == "None" and expected["names"] == "['x1', 'x2']"
    assert notebook_params(training.data.params) == expected
    assert notebook_params(client.get_run(result.run_id).data.params) == expected


def test_a_parameter_the_estimator_shares_agrees_with_autologging(project: Project) -> None:
    """A notebook parameter passed on to an estimator (`fit_intercept`, `random_state`) is written as MLflow
    writes it: autologging (and the notebook's own `mlflow.log_param`) then log the same text, where a
    different one was refused and autologging lost all of the estimator's params."""
    tracked = mlops_nb.track(experiment="shared-names")
    mlops_nb.log_config({"fit_intercept": False, "random_state": None, "alpha": 0.3})
    mlflow.log_param("fit_intercept", False)  # a notebook's own call, as autologging makes it
    frame = pd.read_csv(project.data)
    Ridge(alpha=0.3, fit_intercept=False, random_state=None).fit(frame[["x1", "x2"]], frame["label"])
    mlops_nb.stop()
    params = project.client.get_run(tracked.run_id).data.params
    assert params["solver"] == "auto" and params["copy_X"] == "True"  # autologged
    assert (params["fit_intercept"], params["random_state"], params["alpha"]) == ("False", "None", "0.3")
