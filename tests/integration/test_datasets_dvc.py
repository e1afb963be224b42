"""A DVC-tracked source is versioned by its DVC hash and git revision and restored through DVC (a real git
repository, `dvc init`, a local DVC remote in a temporary folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlops_nb import datasets
from mlops_nb.datasets import dvc
from mlops_nb.exceptions import NotFoundError

DVC = Path(sys.executable).with_name("dvc")
pytestmark = pytest.mark.skipif(not DVC.is_file(), reason="dvc is not installed (pip install -e .[test])")


def _run(folder: Path, *command: str) -> None:
    subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True)


def test_a_dvc_tracked_source_is_restored_through_dvc(project: Path, tmp_path: Path) -> None:
    os.environ.update({"DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"})
    os.environ.update({"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    repo.mkdir()
    original = pd.DataFrame({"id": [1, 2, 3], "value": [0.5, 1.5, 2.5]})
    data = repo / "data.csv"
    original.to_csv(data, index=False)
    _run(repo, "git", "init", "-q")
    _run(repo, str(DVC), "init", "-q")
    _run(repo, str(DVC), "remote", "add", "-d", "local", str(remote))
    _run(repo, str(DVC), "add", "-q", "data.csv")
    _run(repo, "git", "add", ".")
    _run(repo, "git", "commit", "-qm", "data v1")
    _run(repo, str(DVC), "push", "-q")
    recorded_bytes = data.read_bytes()

    dv = datasets.add("tracked", data)
    assert dv.snapshot is None and not (project / ".mlops" / "datasets" / "snapshots").exists()  # no copy
    assert dv.dvc["path"] == "data.csv" and dv.dvc["md5"] == dvc.md5(data)
    assert len(dv.dvc["rev"]) == 40

    pd.DataFrame({"id": [9], "value": [9.0]}).to_csv(data, index=False)  # the working file moves on
    shutil.rmtree(repo / ".dvc" / "cache")  # and the local cache is gone: only the remote has v1
    out = datasets.materialize(dv, tmp_path / "restored" / "data.csv")
    assert out.read_bytes() == recorded_bytes
    pd.testing.assert_frame_equal(datasets.load("tracked"), original)
    as_parquet = datasets.materialize(dv, tmp_path / "restored" / "data.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(as_parquet), original)


def test_an_uncommitted_dvc_change_is_snapshotted_instead(project: Path, tmp_path: Path) -> None:
    os.environ["DVC_NO_ANALYTICS"] = "1"
    repo = tmp_path / "repo"
    repo.mkdir()
    pd.DataFrame({"id": [1]}).to_csv(repo / "data.csv", index=False)
    _run(repo, "git", "init", "-q")
    _run(repo, str(DVC), "init", "-q")
    _run(repo, str(DVC), "add", "-q", "data.csv")  # data.csv.dvc is not committed: no revision holds it
    dv = datasets.add("loose", repo / "data.csv")
    assert dv.dvc is None and dv.snapshot is not None and dv.snapshot.is_file()


def test_data_dvc_cannot_restore_is_an_error_that_says_why(project: Path, tmp_path: Path) -> None:
    os.environ.update({"DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"})
    os.environ.update({"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})
    repo = tmp_path / "repo"
    repo.mkdir()
    pd.DataFrame({"id": [1, 2]}).to_csv(repo / "data.csv", index=False)
    _run(repo, "git", "init", "-q")
    _run(repo, str(DVC), "init", "-q")
    _run(repo, str(DVC), "add", "-q", "data.csv")
    _run(repo, "git", "add", ".")
    _run(repo, "git", "commit", "-qm", "data v1")
    dv = datasets.add("unpushed", repo / "data.csv")
    shutil.rmtree(repo / ".dvc" / "cache")  # never pushed, and the cache is gone
    with pytest.raises(NotFoundError) as caught:
        datasets.load("unpushed")
    message = str(caught.value)
    assert f"DVC could not restore data.csv at revision {dv.dvc['rev'][:12]}" in message
    assert "ERROR" in message and "Having any troubles" not in message  # DVC's reason, not its sign-off
