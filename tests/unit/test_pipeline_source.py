"""Ingestion: watermark filter, held-out test split, fingerprints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_nb.exceptions import ConfigError, UnsupportedDataError
from mlops_nb.pipelines.source import digest, ingest
from mlops_nb.pipelines.spec import DataSource
from mlops_nb.pipelines.spec import TestSplit as HoldOut  # not a test class for pytest


@pytest.fixture
def batches(tmp_path: Path) -> Path:
    for day in (1, 2):
        frame = pd.DataFrame({"x": range(40), "label": [i % 2 for i in range(40)], "day": [day] * 40})
        frame.to_csv(tmp_path / f"batch-{day}.csv", index=False)
    return tmp_path


def test_a_glob_reads_every_file_and_splits_off_the_test_rows(batches: Path, tmp_path: Path) -> None:
    got = ingest(
        DataSource(str(batches / "batch-*.csv")), HoldOut(0.25, 1, "label"), "label", tmp_path / "out"
    )
    assert len(got.files) == 2
    assert len(got.data) == 80
    train, test = pd.read_parquet(got.train_path), pd.read_parquet(got.test_path)
    assert (len(train), len(test)) == (60, 20)
    assert test.label.mean() == 0.5  # stratified on the label
    assert got.digest == digest(got.data)


def test_the_watermark_keeps_only_newer_rows(batches: Path, tmp_path: Path) -> None:
    source = DataSource(str(batches / "batch-*.csv"), watermark="day")
    got = ingest(source, HoldOut(0.25, 1), "label", tmp_path / "out", after="1")
    assert set(got.data.day) == {2}
    assert got.rows_read == 80
    assert got.watermark == 2
    with pytest.raises(UnsupportedDataError, match="No rows to train on"):
        ingest(source, HoldOut(0.25, 1), "label", tmp_path / "out", after="2")


def test_missing_columns_are_named(batches: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Watermark column 'ts'"):
        ingest(DataSource(str(batches / "*.csv"), watermark="ts"), HoldOut(), "label", tmp_path / "o")
    with pytest.raises(ConfigError, match="Target column 'y'"):
        ingest(DataSource(str(batches / "*.csv")), HoldOut(), "y", tmp_path / "o")
    with pytest.raises(ConfigError, match="matches no file"):
        ingest(DataSource(str(batches / "nothing-*.csv")), HoldOut(), "label", tmp_path / "o")
