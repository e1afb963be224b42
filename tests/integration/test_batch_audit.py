"""Batch scoring of a new user's own files with their own model (string labels, string categories through a
OneHotEncoder): quoted values holding commas and newlines across many chunks, a string column of digits,
clear errors for missing values, an empty file and a folder as output, and two scorings of one output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops_nb import records, store
from mlops_nb.exceptions import UsageError
from mlops_nb.serving import batch
from tests.integration.user_models import CHURN_REF, churn_rows, own_predictions, user_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from user_project(tmp_path_factory.mktemp("batch") / "proj")


_SLOW = ("--chunk-rows", "500", "--no-progress")


def _runs() -> int:
    experiment = store.client().get_experiment_by_name(records.BATCH_EXPERIMENT)
    return len(store.client().search_runs([experiment.experiment_id])) if experiment else 0


def test_quoted_newlines_and_string_digits_over_many_chunks(project):
    frame = churn_rows(6_000, seed=4)
    frame["note"] = 'said "no",\nthen left'
    source = project / "quoted.csv"
    frame.to_csv(source, index=False)
    assert source.stat().st_size > 3 * (1 << 16)  # several CSV blocks
    output = project / "quoted-out.csv"
    result = batch.score(CHURN_REF, source, output, chunk_rows=200, progress=False)
    scored = pd.read_csv(output, dtype={"plan": str})
    assert result.rows == 6_000
    assert list(scored["prediction"]) == list(own_predictions(frame))
    assert list(scored["note"]) == list(frame["note"])


def test_missing_values_are_refused_naming_the_problem(project):
    frame = churn_rows(20, seed=5)
    frame.loc[3, "income"] = None
    source = project / "missing.csv"
    frame.to_csv(source, index=False)
    before = _runs()
    with pytest.raises(UsageError, match="contains NaN"):
        batch.score(CHURN_REF, source, project / "missing-out.csv", progress=False)
    assert not (project / "missing-out.csv").exists()
    failed = store.client().search_runs(
        [store.client().get_experiment_by_name(records.BATCH_EXPERIMENT).experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    assert _runs() == before + 1 and failed.info.status == "FAILED"


def test_an_empty_file_and_a_folder_as_output_are_refused_before_any_run(project):
    empty = project / "empty.csv"
    empty.write_bytes(b"")
    folder = project / "scores.csv"
    folder.mkdir()
    fine = project / "fine.csv"
    churn_rows(5).to_csv(fine, index=False)
    before = _runs()
    with pytest.raises(UsageError, match=r"empty\.csv is empty"):
        batch.score(CHURN_REF, empty, project / "e.csv", progress=False)
    with pytest.raises(UsageError, match="is a folder"):
        batch.score(CHURN_REF, fine, folder, progress=False)
    assert _runs() == before


def test_a_second_scoring_of_the_same_output_is_refused_while_the_first_runs(project):
    source = project / "many.csv"
    churn_rows(200_000, seed=6).to_csv(source, index=False)
    output = project / "same.csv"
    first = subprocess.Popen(
        [sys.executable, "-m", "mlops_nb.cli", "score", CHURN_REF, str(source), "-o", str(output), *_SLOW],
        cwd=project,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(project.glob(".same.csv.*.tmp")):
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the first scoring never started writing"
        before = _runs()
        with pytest.raises(UsageError, match="Another scoring is writing"):
            batch.score(CHURN_REF, source, output, progress=False)
        assert first.poll() is None, "the first scoring ended before the second began: nothing was tested"
        assert _runs() == before
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert len(pd.read_csv(output)) == 200_000
    assert not list(project.glob(".same.csv.*"))  # neither its temporary file nor its lock is left


def test_a_value_of_the_wrong_type_is_refused_naming_the_column_without_the_data(project):
    frame = churn_rows(50, seed=7)
    frame["age"] = frame["age"].astype(str)
    frame.loc[40, "age"] = "old"
    source = project / "typed.parquet"
    frame.to_parquet(source, index=False)
    with pytest.raises(UsageError) as refused:
        batch.score(CHURN_REF, source, project / "typed-out.parquet", progress=False)
    message = str(refused.value)
    assert (
        "age" in message and "old" in message and "with schema" not in message and "Nice, FR" not in message
    )


def test_the_run_of_a_killed_scoring_is_marked_failed_by_the_next_scoring_of_its_output(project):
    source = project / "kill.csv"
    churn_rows(200_000, seed=8).to_csv(source, index=False)
    output = project / "killed.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_nb.cli", "score", CHURN_REF, str(source), "-o", str(output), *_SLOW],
        cwd=project,
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 0 for p in project.glob(".killed.csv.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
    process.kill()  # SIGKILL: its run cannot end itself
    process.wait()
    experiment = store.client().get_experiment_by_name(records.BATCH_EXPERIMENT).experiment_id
    mine = f"tags.`{records.TAG_BATCH_OUTPUT}` = '{output}'"
    (killed,) = store.client().search_runs([experiment], mine)
    assert killed.info.status == "RUNNING"
    small = project / "small.csv"
    churn_rows(10).to_csv(small, index=False)
    batch.score(CHURN_REF, small, output, progress=False)
    runs = {run.info.run_id: run for run in store.client().search_runs([experiment], mine)}
    assert runs[killed.info.run_id].info.status == "FAILED"
    assert "Interrupted" in runs[killed.info.run_id].data.tags[records.TAG_ERROR]
    assert sorted(run.info.status for run in runs.values()) == ["FAILED", "FINISHED"]


def test_a_parquet_file_of_integers_and_categories_is_read_as_the_signature_says(project):
    frame = churn_rows(1_000, seed=9)
    typed = frame.astype({"age": "int64", "city": "category", "plan": "category"})
    source = project / "typed-ok.parquet"
    typed.to_parquet(source, index=False)
    batch.score(CHURN_REF, source, project / "typed-ok-out.parquet", chunk_rows=300, progress=False)
    scored = pd.read_parquet(project / "typed-ok-out.parquet")
    assert list(scored["prediction"]) == list(own_predictions(frame))
    bad = typed.astype({"age": str})
    bad.loc[500, "age"] = "old"
    bad.to_parquet(project / "typed-bad.parquet", index=False)
    with pytest.raises(UsageError, match="column 'age' cannot be read as double"):
        batch.score(CHURN_REF, project / "typed-bad.parquet", project / "b.parquet", progress=False)
