"""Datasets: versions, content-addressed snapshots, diff, load inside a tracked run (real SQLite store, real files)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

import mlops_nb
from mlops_nb import cli, datasets, records, store
from mlops_nb.capture import data as capture_data
from mlops_nb.datasets import diff, repository
from mlops_nb.exceptions import NotFoundError, UsageError


def _table(rows: int = 50, seed: int = 0) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"id": range(rows), "x": rng.normal(size=rows), "kind": rng.choice(["a", "b"], size=rows)}
    )


def _snapshots(project: Path) -> list[Path]:
    return sorted((project / ".mlops" / "datasets" / "snapshots").glob("*/*"))


def test_two_adds_of_the_same_content_store_one_snapshot(project: Path) -> None:
    _table().to_csv(project / "a.csv", index=False)
    _table().to_csv(project / "copy.csv", index=False)
    first = datasets.add("sales", project / "a.csv", key=["id"], description="first cut")
    second = datasets.add("sales", project / "copy.csv")
    assert (first.version, second.version) == (1, 2)
    assert first.digest == second.digest
    assert _snapshots(project) == [first.snapshot] == [second.snapshot]
    assert first.snapshot.name == f"{first.digest}.parquet"

    shown = datasets.get("sales", 1)
    assert (shown.key, shown.description, shown.rows, shown.columns) == (
        ["id"],
        "first cut",
        50,
        ["id", "x", "kind"],
    )
    assert shown.source == str((project / "a.csv").resolve()) and shown.author and shown.created
    assert datasets.get("sales").version == 2  # latest
    loaded = datasets.load("sales", 1)
    assert capture_data.fingerprint(loaded) == first.digest  # the snapshot holds exactly the rows added
    assert repository.profile(shown)["num_rows"] == 50  # schema and statistics recorded
    with pytest.raises(NotFoundError, match="has no version 7"):
        datasets.get("sales", 7)


def test_two_adds_at_once_get_two_versions_and_one_snapshot(project: Path) -> None:
    _table(rows=2000).to_parquet(project / "big.parquet", index=False)
    store.ensure_store()
    start = threading.Barrier(2)
    made: list[datasets.DatasetVersion] = []

    def add() -> None:
        start.wait()
        made.append(datasets.add("big", project / "big.parquet"))

    threads = [threading.Thread(target=add) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v.version for v in made) == [1, 2]
    assert len(_snapshots(project)) == 1  # no second copy, no leftover temporary file


def test_diff_finds_one_changed_row_by_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _table(rows=200)
    new = old.copy()
    new.loc[new.id == 17, "x"] = 99.0
    old.to_csv(project / "v1.csv", index=False)
    new.to_csv(project / "v2.csv", index=False)
    assert cli.main(["data", "add", "t", "v1.csv", "--key", "id"]) == 0
    assert cli.main(["data", "add", "t", "v2.csv", "--key", "id"]) == 0
    capsys.readouterr()
    assert cli.main(["data", "diff", "t@1", "t@2", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["added"], found["removed"], found["changed"]) == (0, 0, 1)
    assert found["examples"]["changed"] == [{"id": 17}]
    assert found["columns"] == {"added": [], "removed": [], "retyped": {}}
    assert {c["column"] for c in found["drift"]["checks"]} >= {"x", "kind"}  # the data gate's statistics

    assert cli.main(["data", "diff", "t@1", "t@2"]) == 0
    assert "~1 changed" in capsys.readouterr().out


def test_compare_without_key_and_with_schema_changes() -> None:
    old = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    new = pd.DataFrame({"a": [1, 2, 4], "b": ["x", "y", "z"], "c": [0.1, 0.2, 0.3]})
    found = diff.compare(old, new)
    assert (found["added"], found["removed"], found["changed"]) == (1, 1, None)  # whole rows, on a and b
    assert found["examples"]["added"] == [{"a": 4, "b": "z", "c": 0.3}]
    assert found["columns"]["added"] == ["c"]
    with pytest.raises(UsageError, match="repeats in the new data"):
        diff.compare(old, pd.concat([new, new]), key=["b"])


def test_load_in_a_tracked_run_records_the_dataset_version_as_input(project: Path) -> None:
    _table().to_csv(project / "a.csv", index=False)
    dv = datasets.add("clients", project / "a.csv")
    run_id = mlops_nb.track(experiment="reads", autolog=False).run_id
    frame = mlops_nb.datasets.load("clients")
    mlops_nb.stop()
    assert len(frame) == 50
    run = store.client().get_run(run_id)
    assert run.data.tags[records.TAG_DATASET_NAME] == "clients"
    assert run.data.tags[records.TAG_DATASET_VERSION] == "1"
    (found,) = run.inputs.dataset_inputs
    assert (found.dataset.name, found.dataset.digest) == ("clients", dv.digest)


def test_prune_deletes_a_snapshot_only_a_deleted_version_held(project: Path, capsys) -> None:
    _table(seed=1).to_csv(project / "a.csv", index=False)
    _table(seed=2).to_csv(project / "b.csv", index=False)
    gone = datasets.add("p", project / "a.csv")
    kept = datasets.add("p", project / "b.csv")
    store.client().delete_run(gone.run_id)  # the version's record deleted in MLflow
    assert cli.main(["data", "prune", "--dry-run"]) == 0
    assert f"would delete {gone.snapshot}" in capsys.readouterr().out
    assert _snapshots(project) == sorted([gone.snapshot, kept.snapshot])  # a dry run deletes nothing
    assert cli.main(["data", "prune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == [str(gone.snapshot)]
    assert _snapshots(project) == [kept.snapshot]
