"""`%mlops` in a real IPython shell: user mistakes get messages, not tracebacks; track twice resumes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import mlops_nb
from mlops_nb import records, store
from mlops_nb.capture import code, session
from mlops_nb.exceptions import NoActiveRunError, UnsupportedDataError, UsageError
from tests.helpers import make_notebook


@pytest.fixture
def shell(project: Path) -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mlops_nb")
    return ip


def _mlops(ip: InteractiveShell, line: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    ip.run_cell(f"%mlops {line}")
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return out, err


def test_user_mistakes_get_plain_messages(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    _, err = _mlops(shell, "launch", capsys)
    assert "invalid choice: 'launch'" in err and "%mlops track" in err
    _, err = _mlops(shell, "track --colour red", capsys)
    assert "unrecognized arguments: --colour" in err
    out, _ = _mlops(shell, "stop", capsys)
    assert "nothing to stop" in out
    _, err = _mlops(shell, "config lr=0.1", capsys)
    assert "No tracked run is active" in err
    _, err = _mlops(shell, "split", capsys)
    assert "needs NAME=VARIABLE" in err
    _, err = _mlops(shell, "split train=X_missing", capsys)
    assert "X_missing" in err
    _, err = _mlops(shell, "track --notebook no/such.ipynb", capsys)
    assert "Notebook 'no/such.ipynb' does not exist" in err and session.status() == {"active": False}
    _, err = _mlops(shell, 'config name="unterminated', capsys)
    assert "No closing quotation" in err and "Close the quotes" in err


def test_api_mistakes_in_ipython_show_the_message_without_a_traceback(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("import mlops_nb\nmlops_nb.log_metrics({'loss': 1.0})")
    out, err = capsys.readouterr()
    assert isinstance(result.error_in_exec, NoActiveRunError)  # the cell still fails (papermill stops)
    assert "NoActiveRunError: No tracked run is active. Start one with `%mlops track`" in out + err
    assert "Traceback" not in out + err and "session.py" not in out + err
    _mlops(shell, "track --experiment api-mistakes --no-autolog", capsys)
    result = shell.run_cell("mlops_nb.log_split(train=[1, 2, 3])")
    out, err = capsys.readouterr()
    assert isinstance(result.error_in_exec, UnsupportedDataError)
    assert "Split 'train': A builtins.list cannot be recorded" in out + err and "Traceback" not in out + err
    shell.run_cell("from mlops_nb.exceptions import StoreError\nraise StoreError('store down')")
    out, err = capsys.readouterr()
    assert "Traceback" in out + err and "StoreError" in out + err  # not a user mistake: the usual traceback


def test_python_api_takes_numpy_integers_and_checks_config_names(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    tracked = mlops_nb.track(experiment="numpy-ints", autolog=False)
    mlops_nb.log_metrics({"loss": 0.5}, step=np.int64(3))
    with pytest.raises(UsageError, match=r"'acc' has value '0\.9' of type str"):
        mlops_nb.log_metrics({"acc": "0.9"})
    digests = mlops_nb.log_split(train=np.arange(6.0), seed=np.int64(42))
    with pytest.raises(UsageError, match="Invalid config name 'learning rate!'"):
        mlops_nb.log_config({"learning rate!": 0.1})
    mlops_nb.log_config({"data": Path("data/train.csv"), "since": date(2024, 1, 31), "C": np.float32(0.5)})
    assert tracked.writer.flush().written == 1
    client = store.client()
    assert [m.step for m in client.get_metric_history(tracked.run_id, "loss")] == [3]
    params = client.get_run(tracked.run_id).data.params
    assert set(digests) == {"train"} and "learning rate!" not in params
    assert (params["data"], params["since"], params["C"]) == ("data/train.csv", "2024-01-31", "0.5")


def test_track_twice_resumes_and_config_is_typed(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _mlops(shell, "track --experiment magic", capsys)
    run_id = out.split("run ")[1].split()[0]
    out, _ = _mlops(shell, "track", capsys)
    assert f"Resuming run {run_id}" in out
    _mlops(shell, "config model=logreg C=0.5 layers=[64,32] seed=7", capsys)
    assert session.active().params == {"model": "logreg", "C": 0.5, "layers": [64, 32], "seed": 7}
    _, err = _mlops(shell, "config C=0.7", capsys)
    assert "already 0.5" in err and "%mlops stop" in err
    shell.run_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1.0, 2.0, 3.0]})")
    out, _ = _mlops(shell, "split train=df --seed 3", capsys)
    assert "Split train: 3 rows" in out
    out, _ = _mlops(shell, "status", capsys)
    assert run_id in out and "C=0.5" in out and "train (3 rows" in out
    out, _ = _mlops(shell, "stop", capsys)
    assert f"Stopped run {run_id}" in out
    run = store.client().get_run(run_id)
    assert (
        run.info.status == "FINISHED"
        and run.data.params["C"] == "0.5"
        and run.data.params["model"] == "logreg"
    )


def test_load_ext_imports_nothing_heavy() -> None:
    code = (
        "import sys, IPython\n"
        "ip = IPython.core.interactiveshell.InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'mlops_nb')\n"
        "print(sorted(m for m in ('mlflow', 'pandas', 'sklearn', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_stop_turns_autologging_off(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    import mlflow
    from sklearn.linear_model import LinearRegression

    _mlops(shell, "track --experiment auto", capsys)
    _mlops(shell, "stop", capsys)
    LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    assert mlflow.active_run() is None  # no run opened behind the user's back
    experiments = store.client().search_experiments()
    assert sum(len(store.client().search_runs([e.experiment_id])) for e in experiments) == 1


def test_track_on_an_unreachable_tracking_server_is_a_plain_message(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # with MLflow's default retries: answered at once
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    _, err = _mlops(shell, "track --experiment remote", capsys)
    assert f"The MLflow tracking server at {url} does not answer" in err and "MLFLOW_TRACKING_URI" in err
    assert "Traceback" not in err
    assert session.status() == {"active": False}


def test_notebook_saved_after_track_keeps_hash_and_snapshot_in_step(project: Path) -> None:
    path = make_notebook(project / "edited.ipynb", ["x = 1"])
    tracked = mlops_nb.track(experiment="edited", autolog=False, notebook=str(path))
    first = store.client().get_run(tracked.run_id).data.tags[records.TAG_NOTEBOOK_HASH]
    make_notebook(path, ["x = 1", "y = x + 1"])  # the user edits and saves, then stops
    mlops_nb.stop()
    client = store.client()
    tags = client.get_run(tracked.run_id).data.tags
    snapshot = json.loads(
        Path(client.download_artifacts(tracked.run_id, tags[records.TAG_NOTEBOOK_SNAPSHOT])).read_text()
    )
    assert tags[records.TAG_NOTEBOOK_HASH] == code.notebook_hash(snapshot) != first
    assert len(snapshot["cells"]) == 2


def test_a_magic_mistake_fails_its_cell(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    """A `%mlops` mistake fails the cell (Run All, papermill and validate stop there) with its message and
    no traceback; it used to print the message and let the notebook run on, untracked."""
    for line, message in [
        ("config foo=", "`foo=` is not NAME=VALUE"),
        ("track --colour red", "unrecognized arguments: --colour"),
        ("split train=X_missing", "X_missing"),
    ]:
        result = shell.run_cell(f"%mlops {line}")
        out, err = capsys.readouterr()
        assert result.error_in_exec is not None, line
        assert message in err and "Traceback" not in out + err, err
