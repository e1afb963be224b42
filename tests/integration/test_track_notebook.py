"""A real notebook tracked end to end: run it through papermill, read everything back through MlflowClient."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from mlops_nb import records, store
from mlops_nb.capture import code, data
from mlops_nb.explore import columns, metric_data
from tests.helpers import make_notebook, outputs, papermill

REPO = Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_project(project: Path) -> Path:
    """The project as a git repository with one commit and one uncommitted change."""
    shutil.copy(REPO / "notebooks" / "train_classifier.ipynb", project / "train_classifier.ipynb")
    (project / "helper.py").write_text("VALUE = 1\n", encoding="utf-8")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (project / "helper.py").write_text("VALUE = 2\n", encoding="utf-8")
    return project


def _artifact(client, run_id: str, path: str) -> str:
    local = client.download_artifacts(run_id, path)
    return Path(local).read_text(encoding="utf-8")


def test_example_notebook_records_everything(git_project: Path) -> None:
    nb = git_project / "train_classifier.ipynb"
    papermill(
        nb,
        git_project / "out.ipynb",
        params={"epochs": 4, "alpha": 0.001},
        env={"MY_SERVICE_TOKEN": "hunter2-secret", "DB_PASSWORD": "pw"},
    )
    client = store.client()
    exp = client.get_experiment_by_name("train_classifier")
    (run,) = client.search_runs([exp.experiment_id])
    run_id, tags, params = run.info.run_id, run.data.tags, run.data.params
    assert run.info.status == "FINISHED"

    # 1. code version
    assert tags[records.SOURCE_NAME] == str(nb)
    assert tags[records.SOURCE_TYPE] == "NOTEBOOK"
    assert tags[records.SOURCE_GIT_COMMIT] == _git(git_project, "rev-parse", "HEAD").strip()
    assert tags[records.SOURCE_GIT_BRANCH] == "main"
    assert tags[records.TAG_GIT_DIRTY] == "true"
    assert "VALUE = 2" in _artifact(client, run_id, records.ARTIFACT_GIT_DIFF)
    assert tags[records.TAG_NOTEBOOK_HASH] == code.notebook_hash(json.loads(nb.read_text()))
    snapshot = json.loads(_artifact(client, run_id, tags[records.TAG_NOTEBOOK_SNAPSHOT]))
    assert code.notebook_hash(snapshot) == tags[records.TAG_NOTEBOOK_HASH]
    assert records.TAG_WARNING_GIT_DIRTY in tags

    # 2. environment, secrets never recorded
    env = json.loads(_artifact(client, run_id, records.ARTIFACT_ENVIRONMENT))
    assert env["python"].count(".") == 2 and env["kernel"] == "python3" and env["platform"]
    assert (
        "MY_SERVICE_TOKEN" not in env["environment_variables"]
        and "DB_PASSWORD" not in env["environment_variables"]
    )
    everything = json.dumps(env) + json.dumps(tags) + json.dumps(params)
    assert "hunter2" not in everything
    assert "mlflow==" in _artifact(client, run_id, records.ARTIFACT_PACKAGES).lower()
    assert tags[records.TAG_KERNEL] == "python3"

    # 3. config: parameters cell + papermill's injected values, autolog
    assert params["epochs"] == "4" and params["alpha"] == "0.001" and params["seed"] == "42"
    assert params["test_size"] == "0.25"
    assert params["sgdclassifier__alpha"] == "0.001"  # autolog
    assert "training_accuracy_score" in run.data.metrics
    config = json.loads(_artifact(client, run_id, records.ARTIFACT_CONFIG))
    assert config["epochs"] == 4 and config["alpha"] == 0.001  # typed

    # 4. splits: digests are our full-content fingerprints of the exact frames
    frame = load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    expected = {
        "train": data.fingerprint(X_train.assign(target=y_train)),
        "test": data.fingerprint(X_test.assign(target=y_test)),
    }
    inputs = {{t.key: t.value for t in d.tags}[records.INPUT_SPLIT]: d for d in run.inputs.dataset_inputs}
    assert {n: d.dataset.digest for n, d in inputs.items()} == expected
    assert {t.key: t.value for t in inputs["test"].tags}[records.INPUT_CONTEXT] == "testing"
    assert {t.key: t.value for t in inputs["train"].tags}[records.INPUT_CONTEXT] == "training"
    stats = json.loads(_artifact(client, run_id, records.split_artifact("train")))
    assert stats["num_rows"] == len(X_train) and stats["digest"] == expected["train"]
    assert stats["columns"]["mean radius"]["kind"] == "numeric"
    assert stats["columns"]["mean radius"]["mean"] == pytest.approx(X_train["mean radius"].mean())

    # 5. metrics per epoch, all stored
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [0, 1, 2, 3]

    # 6. execution order
    assert tags[records.TAG_EXECUTION_ORDER] == records.EXECUTION_IN_ORDER
    order = json.loads(_artifact(client, run_id, records.ARTIFACT_EXECUTION_ORDER))
    assert order["in_order"] and len(order["sequence"]) >= 8

    text = outputs(git_project / "out.ipynb")
    assert f"Tracking run {run_id}" in text and "WARNING" in text  # dirty git is reported

    # 7. a papermill run is named after its notebook and injected parameters, not MLflow's random name
    assert run.info.run_name == "train_classifier alpha=0.001 epochs=4"

    # 8. what the panel and the widget show by default, from the real autolog output of the notebook
    param_kinds = columns.classify_params(params, tags)
    assert {k for k, v in param_kinds.items() if v == "user"} == {
        "alpha", "epochs", "test_size", "seed", "data_path", "target"
    }  # fmt: skip
    assert param_kinds["sgdclassifier__alpha"] == param_kinds["sgdclassifier"] == "autolog"
    metric_kinds = columns.classify_metrics(run.data.metrics, tags)
    notebook_metrics = {"train_loss", "val_loss", "val_accuracy", "test_accuracy", "test_f1", "test_roc_auc"}
    assert {k for k, v in metric_kinds.items() if v == "notebook"} == notebook_metrics
    assert metric_kinds["training_accuracy_score"] == "autolog"
    assert columns.default_metric(metric_kinds, [tags]) == "test_roc_auc"  # logged last (in one batch)

    # 9. the split each notebook metric was computed on, from its name
    on = metric_data.computed_on(run, client)
    assert on["test_accuracy"] == {
        "dataset": "test", "digest": expected["test"], "context": "testing", "source": "notebook"
    }  # fmt: skip
    assert on["train_loss"]["dataset"] == "train"
    assert "val_loss" not in on  # a validation metric, but the notebook recorded no validation split


def test_pipeline_mode_attaches_to_the_runners_run(project: Path) -> None:
    client = store.client()
    exp_id = store.experiment_id("pipe")
    parent = client.create_run(exp_id, run_name="pipeline")
    step = client.create_run(exp_id, run_name="training", tags={records.PARENT_RUN_ID: parent.info.run_id})
    nb = make_notebook(
        project / "step.ipynb",
        [
            "%load_ext mlops_nb",
            "%mlops track",
            "import mlops_nb\nfor i in range(3): mlops_nb.log_metrics({'m': i}, step=i)",
            "%mlops stop",
        ],
        parameters="lr = 0.1",
    )
    papermill(nb, project / "out.ipynb", params={"lr": 0.5}, env={records.ENV_RUN_ID: step.info.run_id})
    run = client.get_run(step.info.run_id)
    assert run.data.tags[records.TAG_MODE] == records.MODE_PIPELINE
    assert run.data.tags[records.TAG_PIPELINE_RUN] == parent.info.run_id
    assert run.data.params["lr"] == "0.5"
    assert len(client.get_metric_history(step.info.run_id, "m")) == 3
    assert len(client.search_runs([exp_id])) == 2  # attached: no new run opened
    assert f"Attached to run {step.info.run_id}" in outputs(project / "out.ipynb")


def test_pipeline_mode_with_unknown_run_id_is_a_clear_error(project: Path) -> None:
    nb = make_notebook(project / "step.ipynb", ["%load_ext mlops_nb", "%mlops track"])
    done = papermill(nb, project / "out.ipynb", env={records.ENV_RUN_ID: "0" * 32}, check=False)
    assert done.returncode != 0  # the step fails at `%mlops track`, rather than run on untracked
    text = outputs(project / "out.ipynb")
    assert "names no run in the store" in text and "Traceback" not in text


def test_out_of_order_execution_and_leakage_are_flagged(project: Path) -> None:
    from nbclient import NotebookClient

    nb_path = make_notebook(
        project / "messy.ipynb",
        [
            "%load_ext mlops_nb\nimport pandas as pd, mlops_nb",
            "%mlops track --experiment messy",
            "df = pd.DataFrame({'a': range(100), 'b': [i % 7 for i in range(100)]})",
            "train, test = df.iloc[:80], df.iloc[70:]",
            "%mlops split train=train test=test",
            "%mlops status",
            "%mlops stop",
        ],
    )
    node = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(node, kernel_name="python3", resources={"metadata": {"path": str(project)}})
    order = [0, 1, 2, 3, 4, 2, 5]  # cell 3 re-run after cell 5
    # jupyter_server tells a session's kernel its notebook through JPY_SESSION_NAME; do as it does
    with client.setup_kernel(env={**os.environ, "JPY_SESSION_NAME": str(nb_path)}):
        for index in order:
            client.execute_cell(node.cells[index], index)
        status_text = "".join(o.get("text", "") for o in node.cells[5].outputs)
        client.execute_cell(node.cells[6], 6)
    assert "10 rows" in status_text  # leakage named with its row count
    assert "cell 3" in status_text and "after" in status_text  # out-of-order named
    mlflow_client = store.client()
    (run,) = mlflow_client.search_runs([mlflow_client.get_experiment_by_name("messy").experiment_id])
    assert run.data.tags[records.TAG_EXECUTION_ORDER] == records.EXECUTION_OUT_OF_ORDER
    assert "cell 3" in run.data.tags[records.TAG_WARNING_EXECUTION_ORDER]
    assert "10 rows" in run.data.tags[records.TAG_WARNING_SPLIT_LEAKAGE]


def test_many_points_and_kernel_shutdown_flush(project: Path) -> None:
    nb = make_notebook(
        project / "many.ipynb",
        [
            "%load_ext mlops_nb",
            "%mlops track --experiment many",
            "import mlops_nb\nfor i in range(1000):\n    mlops_nb.log_metrics({f'k{j}': i * j for j in range(5)}, step=i)",
        ],
    )  # no %mlops stop: the kernel's shutdown must flush
    papermill(nb, project / "out.ipynb")
    client = store.client()
    (run,) = client.search_runs([client.get_experiment_by_name("many").experiment_id])
    assert run.info.status == "FINISHED"
    assert sum(len(client.get_metric_history(run.info.run_id, f"k{j}")) for j in range(5)) == 5000


def test_failed_last_cell_marks_interactive_run_failed(project: Path) -> None:
    nb = make_notebook(
        project / "boom.ipynb", ["%load_ext mlops_nb", "%mlops track --experiment boom", "1 / 0"]
    )
    done = papermill(nb, project / "out.ipynb", check=False)
    assert done.returncode != 0
    client = store.client()
    (run,) = client.search_runs([client.get_experiment_by_name("boom").experiment_id])
    assert run.info.status == "FAILED"


def test_unsupported_split_type_is_named(project: Path) -> None:
    nb = make_notebook(
        project / "bad.ipynb",
        [
            "%load_ext mlops_nb",
            "%mlops track --experiment bad",
            "rows = [[1, 2], [3, 4]]",
            "%mlops split train=rows",
        ],
    )
    assert papermill(nb, project / "out.ipynb", check=False).returncode != 0  # as log_split(train=rows)
    text = outputs(project / "out.ipynb")
    assert "Split 'train'" in text and "list" in text and "DataFrame" in text and "Traceback" not in text


def test_interactive_series_and_numpy_splits(project: Path) -> None:
    nb = make_notebook(
        project / "np.ipynb",
        [
            "%load_ext mlops_nb\nimport numpy as np, pandas as pd, mlops_nb",
            "%mlops track --experiment np",
            "digests = mlops_nb.log_split(train=np.arange(20.0).reshape(10, 2), validation=pd.Series(range(5), name='y'), seed=1)",
            "print(sorted(digests))",
        ],
    )
    papermill(nb, project / "out.ipynb")
    assert "['train', 'validation']" in outputs(project / "out.ipynb")
    client = store.client()
    (run,) = client.search_runs([client.get_experiment_by_name("np").experiment_id])
    contexts = sorted(
        {t.key: t.value for t in d.tags}[records.INPUT_CONTEXT] for d in run.inputs.dataset_inputs
    )
    assert contexts == ["training", "validation"]


def test_notebook_run_by_papermills_python_api_never_claims_ipykernel_launcher(project: Path) -> None:
    nb = make_notebook(
        project / "step.ipynb",
        ["%load_ext mlops_nb", "%mlops track --experiment pm-api --no-autolog", "%mlops stop"],
    )
    driver = project / "drive.py"  # papermill called from a script: no notebook path on any command line
    driver.write_text(
        "import papermill as pm\n"
        f"pm.execute_notebook({str(nb)!r}, 'out.ipynb', kernel_name='python3', progress_bar=False)\n",
        encoding="utf-8",
    )
    subprocess.run([sys.executable, str(driver)], cwd=project, check=True, capture_output=True, timeout=300)
    client = store.client()
    (run,) = client.search_runs([client.get_experiment_by_name("pm-api").experiment_id])
    tags = run.data.tags
    assert records.SOURCE_NAME not in tags  # not .../ipykernel_launcher.py
    assert tags[records.SOURCE_TYPE] == "NOTEBOOK"
    assert "--notebook PATH" in tags[records.TAG_WARNING_NOTEBOOK_UNKNOWN]
    assert "WARNING: the notebook's path was not found" in outputs(project / "out.ipynb")


def test_parameters_cell_after_track_is_recorded_with_papermills_values(project: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext mlops_nb\n%mlops track --experiment late --no-autolog"),
        nbformat.v4.new_code_cell("lr = 0.1\nepochs = 3"),
        nbformat.v4.new_code_cell("print(lr * epochs)"),
    ]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, project / "late.ipynb")
    papermill(project / "late.ipynb", project / "out.ipynb", params={"lr": 0.5})
    client = store.client()
    (run,) = client.search_runs([client.get_experiment_by_name("late").experiment_id])
    assert run.data.params == {"lr": "0.5", "epochs": "3"}  # papermill's value, not the cell's default
    config = json.loads(_artifact(client, run.info.run_id, records.ARTIFACT_CONFIG))
    assert config == {"lr": 0.5, "epochs": 3}
