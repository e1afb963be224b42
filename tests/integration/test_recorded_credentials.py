"""Credentials in URLs are neither recorded nor shown: a token in the git remote or in PIP_INDEX_URL stays
out of the run, and a password in the tracking URI out of `%mlops track`'s output."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import mlops_nb
from mlops_nb import records, store
from tests.helpers import make_notebook

TOKEN = "ghp_s3cretT0ken"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True
    )


def test_tokens_in_urls_are_not_recorded(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = make_notebook(project / "train.ipynb", ["x = 1"])
    _git(project, "init", "-q", "-b", "main")
    _git(project, "remote", "add", "origin", f"https://{TOKEN}@github.example.com/org/x.git")
    _git(project, "add", "train.ipynb")
    _git(project, "commit", "-qm", "init")
    monkeypatch.setenv("PIP_INDEX_URL", f"https://{TOKEN}@pypi.example.com/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"https://user:{TOKEN}@pypi.example.com/extra")

    run_id = mlops_nb.track(experiment="credentials", notebook=str(nb), autolog=False).run_id
    mlops_nb.stop()

    client = store.client()
    run = client.get_run(run_id)
    assert run.data.tags[records.SOURCE_GIT_REPO_URL] == "https://***@github.example.com/org/x.git"
    environment = json.loads(
        Path(client.download_artifacts(run_id, records.ARTIFACT_ENVIRONMENT)).read_text()
    )
    variables = environment["environment_variables"]
    assert variables["PIP_INDEX_URL"] == "https://***@pypi.example.com/simple"
    assert variables["PIP_EXTRA_INDEX_URL"] == "https://***@pypi.example.com/extra"
    recorded = json.dumps(environment) + json.dumps(run.data.tags) + json.dumps(run.data.params)
    assert TOKEN not in recorded


def test_track_does_not_show_the_tracking_password(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{TOKEN}@127.0.0.1:{port}")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlops_nb")
    shell.run_cell("%mlops track")
    out, err = capsys.readouterr()
    assert f"http://***@127.0.0.1:{port}" in err and "does not answer" in err
    assert TOKEN not in out + err and "alice" not in out + err


def test_a_run_ending_on_a_tracking_server_does_not_print_the_password(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MLflow prints "View run ... at: <tracking URI>/#/..." as a run ends on a tracking server: with the
    user info of the URI, into the notebook's output, an output notebook's artifact or a CI log."""
    from tests.integration.test_spool import Server

    server = Server(tmp_path)
    server.start()
    try:
        monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "")  # restored after the test
        monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{TOKEN}@127.0.0.1:{server.port}")
        mlops_nb.track(experiment="remote-credentials", autolog=False)
        mlops_nb.stop()
    finally:
        server.stop()
    out, err = capsys.readouterr()
    assert TOKEN not in out + err and "alice" not in out + err, out + err
