"""Datasets under stress: a process killed while adding, retyped columns in a diff, versions given as text
(real SQLite store, real files, a real SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_nb import cli, datasets, store
from mlops_nb.datasets import diff, prune
from mlops_nb.exceptions import UsageError

_KILLED_AFTER_THE_RECORD = textwrap.dedent(
    """
    import os, signal
    from mlops_nb import datasets, store

    create = store.Writer.create_run

    def create_then_die(self, *args, **kwargs):
        run = create(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return run

    store.Writer.create_run = create_then_die
    datasets.add("sales", "sales.csv")
    """
)


def test_add_killed_after_its_record_is_created_leaves_no_half_written_version(project: Path) -> None:
    pd.DataFrame({"id": range(20), "x": np.arange(20) / 3}).to_csv(project / "sales.csv", index=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_THE_RECORD], cwd=project, env=env, check=False
    )
    assert killed.returncode == -signal.SIGKILL

    assert datasets.versions("sales") == []  # nothing half-written is listed
    added = datasets.add("sales", project / "sales.csv")
    assert added.version == 1
    assert cli.main(["data", "show", "sales@1"]) == 0  # its profile is there
    assert store.client().get_run(added.run_id).info.run_name == "sales v1"
    assert prune.prune().deleted == []  # the one snapshot is the version's


def test_diff_by_key_counts_one_changed_row_when_a_missing_value_makes_a_column_float() -> None:
    old = pd.DataFrame({"id": range(6), "n": [1, 2, 3, 4, 5, 6], "s": list("abcdef")})
    new = old.assign(n=old["n"].astype(float))
    new.loc[2, "n"] = np.nan
    found = diff.compare(old, new, ["id"])
    assert (found["added"], found["removed"], found["changed"]) == (0, 0, 1)
    assert found["examples"]["changed"] == [{"id": 2}]
    assert found["columns"]["retyped"] == {"n": ["int64", "float64"]}
    whole_rows = diff.compare(old, new)
    assert (whole_rows["added"], whole_rows["removed"]) == (1, 1)
    as_text = diff.compare(old, old.assign(id=old["id"].astype(str)), ["id"])  # the key itself retyped
    assert (as_text["added"], as_text["removed"], as_text["changed"]) == (0, 0, 0)


def test_a_version_given_as_text_reads_as_that_version(project: Path) -> None:
    pd.DataFrame({"a": [1, 2]}).to_csv(project / "a.csv", index=False)
    datasets.add("t", project / "a.csv")
    datasets.add("t", project / "a.csv")
    assert len(datasets.load("t", "1")) == 2  # e.g. a notebook parameter
    assert datasets.get("t", "1").version == 1
    assert datasets.get("t", np.int64(2)).version == 2
    assert datasets.get("t", "latest").version == 2
    for wrong in (0, "x", True, 1.5):
        with pytest.raises(UsageError, match="version"):
            datasets.get("t", wrong)


def test_a_parquet_files_named_index_is_kept_as_columns(project: Path) -> None:
    frame = pd.DataFrame({"order_id": [10, 11, 12], "v": [1.0, 2.0, 3.0]})
    frame.set_index("order_id").to_parquet(project / "indexed.parquet")  # pandas stores the index as data
    added = datasets.add("orders", project / "indexed.parquet", key=["order_id"])
    assert added.columns == ["order_id", "v"]
    pd.testing.assert_frame_equal(datasets.load("orders"), frame)
