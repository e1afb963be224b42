"""A snapshot is read only from inside the store's artifact root: a link planted in the artifact store
to a file elsewhere gets a 400, and the file is not copied."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

from mlops_nb import config, records, store

NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
SECRET = '{"secret": "outside the artifact root"}'


@pytest.fixture(params=["file", "folder"])
def linked_run(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A run of its own project whose snapshot (the file, or its folder) is, in the artifact store, a link
    to a place outside the store's artifact root."""
    project = tmp_path / "linked-project"
    project.mkdir()
    (project / "mlops.toml").write_text("", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv(records.ENV_PROJECT, raising=False)
        settings = config.load(project)
    client = store.client(settings)
    run = client.create_run(store.experiment_id("links", settings))
    notebook = tmp_path / "train.ipynb"
    notebook.write_text(NOTEBOOK, encoding="utf-8")
    client.log_artifact(run.info.run_id, str(notebook), records.ARTIFACT_CODE_DIR)
    client.set_tag(run.info.run_id, records.TAG_NOTEBOOK_SNAPSHOT, f"{records.ARTIFACT_CODE_DIR}/train.ipynb")
    code = Path(url2pathname(urlsplit(run.info.artifact_uri).path)) / records.ARTIFACT_CODE_DIR
    assert (code / "train.ipynb").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "train.ipynb").write_text(SECRET, encoding="utf-8")
    if request.param == "file":
        (code / "train.ipynb").unlink()
        (code / "train.ipynb").symlink_to(elsewhere / "train.ipynb")
    else:
        (code / "train.ipynb").unlink()
        code.rmdir()
        code.symlink_to(elsewhere, target_is_directory=True)
    return run.info.run_id


@pytest.fixture
def jp_server_config(linked_run: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The server on the linked run's project."""
    monkeypatch.setenv(records.ENV_PROJECT, str(tmp_path / "linked-project"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


async def test_a_snapshot_outside_the_artifact_root_is_not_read(
    api, jp_root_dir: Path, linked_run: str
) -> None:
    status, body = await api(f"runs/{linked_run}/snapshot", method="POST", body={})
    assert not any(SECRET in p.read_text() for p in jp_root_dir.rglob("*") if p.is_file())
    assert status == 400, body
    assert "outside the store's artifact root" in body["message"], body
