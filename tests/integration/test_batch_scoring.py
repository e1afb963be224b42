"""Batch scoring (`mlops-nb score`) of CSV and Parquet files with a real registered model: predictions equal
the model's own, the run records its lineage, the output appears whole or not at all, and peak memory does not
grow with the input's size."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_nb import records, store
from mlops_nb.cli import main
from mlops_nb.exceptions import UsageError
from mlops_nb.serving import batch
from tests.integration.pipeline_project import MODEL_NAME, Project
from tests.integration.serving_project import REF, served_project

FEATURES = ["x1", "x2", "x3", "x4", "segment"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield from served_project(tmp_path_factory)


def _own_predictions(frame: pd.DataFrame) -> np.ndarray:
    import mlflow.sklearn

    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION)
    from mlops_nb.serving.target import location

    model = mlflow.sklearn.load_model(location(version, store.client()))
    return model.predict(frame[FEATURES])


def _rows(path: Path, rows: int, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURES[:4]})
    frame["segment"] = rng.integers(0, 3, size=rows)
    frame["id"] = np.arange(rows)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(("src", "dst"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_predictions_equal_the_models_own_and_the_run_has_lineage(project, src, dst):
    source = _rows(project.root / f"in{src}", 2_345)
    output = project.root / f"out{dst}"
    result = batch.score(REF, source, output, chunk_rows=500, progress=False)
    scored = pd.read_csv(output) if dst == ".csv" else pd.read_parquet(output)
    frame = pd.read_csv(source) if src == ".csv" else pd.read_parquet(source)
    assert len(scored) == result.rows == 2_345
    assert scored["id"].tolist() == list(range(2_345))  # order kept across chunks
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), _own_predictions(frame))
    run = store.client().get_run(result.run_id)
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert tags[records.TAG_BATCH_MODEL_VERSION] == result.version
    assert tags[records.TAG_BATCH_OUTPUT] == str(output)
    assert tags[records.TAG_BATCH_ROWS] == "2345"
    import hashlib

    assert tags[records.TAG_BATCH_INPUT_DIGEST] == hashlib.sha256(source.read_bytes()).hexdigest()
    version = store.client().get_model_version(MODEL_NAME, result.version)
    assert version.tags[records.TAG_BATCH_LAST_RUN] == result.run_id


def test_a_bad_row_deep_in_the_file_leaves_no_output_and_a_failed_run(project):
    source = _rows(project.root / "bad.csv", 3_000)
    lines = source.read_text().splitlines()
    lines[2_500] = "oops," + lines[2_500].split(",", 1)[1]
    source.write_text("\n".join(lines) + "\n")
    output = project.root / "bad-out.parquet"
    output.write_text("previous output")
    with pytest.raises(UsageError, match=r"bad\.csv"):
        batch.score(REF, source, output, chunk_rows=1_000, progress=False)
    assert output.read_text() == "previous output"  # untouched: the new one never replaced it
    assert not [p for p in project.root.iterdir() if p.name.endswith(".tmp")]
    runs = store.client().search_runs(
        [store.experiment_id(records.BATCH_EXPERIMENT)],
        f"tags.`{records.TAG_BATCH_INPUT}` = '{source}'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]


def test_missing_columns_and_unknown_formats_are_refused(project, capsys):
    source = project.root / "few.csv"
    pd.DataFrame({"x1": [1.0], "x2": [2.0]}).to_csv(source, index=False)
    assert main(["score", REF, str(source), "-o", str(project.root / "o.parquet")]) == 2
    assert "lacks the model's input columns ['x3', 'x4', 'segment']" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"only \.csv and \.parquet"):
        batch.score(REF, source, project.root / "o.xlsx")


_MEASURE = """
import resource, sys
from mlops_nb.cli import main
code = main(sys.argv[1:])
print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def _peak_kib(project: Project, source: Path, output: Path) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            "score",
            REF,
            str(source),
            "-o",
            str(output),
            "--chunk-rows",
            "20000",
            "--no-progress",
        ],
        cwd=project.root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split("MAXRSS")[-1].split()[0])


def test_peak_memory_does_not_grow_with_the_input(project):
    small = _rows(project.root / "small.csv", 100_000)
    large = _rows(project.root / "large.csv", 1_000_000)
    small_peak = _peak_kib(project, small, project.root / "small-out.parquet")
    large_peak = _peak_kib(project, large, project.root / "large-out.parquet")
    assert len(pd.read_parquet(project.root / "large-out.parquet", columns=["id"])) == 1_000_000
    # the 900,000 extra rows are 43 MB as six float64/int64 columns alone: a whole-file read would add that
    grown_mib = (large_peak - small_peak) / 1024
    assert grown_mib < 15, f"peak RSS grew by {grown_mib:.1f} MiB from 100k to 1M rows"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_input_without_rows_gives_an_output_without_rows(project, suffix):
    source = _rows(project.root / f"empty{suffix}", 0)
    output = project.root / f"empty-out{suffix}"
    result = batch.score(REF, source, output, progress=False)
    scored = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)
    assert result.rows == 0 and len(scored) == 0
    assert [*FEATURES, "id", "prediction"] == list(scored.columns)


def test_a_killed_scoring_leaves_no_output_and_its_leftover_is_cleaned_by_the_next(project):
    source = _rows(project.root / "kill.csv", 400_000)
    output = project.root / "killed" / "out.csv"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_nb.cli",
            "score",
            REF,
            str(source),
            "-o",
            str(output),
            "--chunk-rows",
            "5000",
            "--no-progress",
        ],
        cwd=project.root,
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list(output.parent.glob(".out.csv.*.tmp")) or not any(
        p.stat().st_size > 0 for p in output.parent.glob(".out.csv.*.tmp")
    ):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.01)
    process.kill()  # SIGKILL mid-way: no cleanup runs
    process.wait()
    assert not output.exists()
    assert list(output.parent.glob(".out.csv.*.tmp"))  # its leftover
    small = _rows(project.root / "small-kill.csv", 10)
    batch.score(REF, small, output, progress=False)
    assert len(pd.read_csv(output)) == 10
    assert not list(output.parent.glob(".out.csv.*.tmp"))


def test_an_output_that_cannot_be_written_is_a_clear_error(project):
    source = _rows(project.root / "fine.csv", 10)
    blocker = project.root / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="Cannot write"):
        batch.score(REF, source, blocker / "out.csv", progress=False)
