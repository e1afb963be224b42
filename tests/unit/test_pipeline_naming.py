"""Run names and the code version a pipeline's runs record (pipelines/naming.py)."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_nb import records, store
from mlops_nb.params_text import MAX_TITLE
from mlops_nb.pipelines import naming


def test_names() -> None:
    values = {"epochs": 10, "alpha": 0.001, "note": "line one\nline two, and much more text than fits"}
    assert naming.run_name("train", values) == "train alpha=0.001 epochs=10 note=line one line two, and …"
    assert (
        naming.run_name("train", {"alpha": 0.1, "epochs": 5}, first=("epochs",)) == "train epochs=5 alpha=0.1"
    )
    assert len(naming.run_name("p", {f"param_{i}": i for i in range(100)})) == MAX_TITLE
    assert naming.step_name("train", "training") == "train · training"
    assert (
        naming.sweep_name("train", {"alpha": [1, 2], "epochs": [3, 4]}, 4)
        == "train sweep alpha×epochs (4 points)"
    )
    assert naming.sweep_name("train", {}, 1) == "train sweep points (1 point)"


def test_code_version_of_a_materialized_release_comes_from_the_release(project: Path) -> None:
    notebook = project / "outside" / "nb.ipynb"  # not in any git repository
    notebook.parent.mkdir()
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    client = store.client()
    experiment = store.experiment_id(records.RELEASE_EXPERIMENT)
    release_tags = {
        records.TAG_RELEASE_PIPELINE: "train",
        records.TAG_RELEASE_ENV: "prod",
        records.TAG_RELEASE_NUMBER: "3",
        records.SOURCE_GIT_COMMIT: "c0ffee" * 6 + "abcd",
    }
    client.create_run(experiment, tags=release_tags)
    tags = naming.code_version(notebook, "prod#3", "train")
    assert tags[records.SOURCE_GIT_COMMIT] == "c0ffee" * 6 + "abcd"
    assert tags[records.TAG_RELEASE] == "prod#3" and len(tags[records.TAG_NOTEBOOK_HASH]) == 64
    assert records.SOURCE_GIT_COMMIT not in naming.code_version(
        notebook, "prod#9", "train"
    )  # no such release
    assert records.SOURCE_GIT_COMMIT not in naming.code_version(
        notebook, records.RELEASE_WORKING_COPY, "train"
    )
