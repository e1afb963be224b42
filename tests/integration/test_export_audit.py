"""ONNX export of a new user's own classifier (string labels, string categories through a OneHotEncoder):
parity on their test data, a column of digit categories compared as the strings it holds, and test data the
model cannot score or that cannot be read refused clearly with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_nb.exceptions import ExportError, UsageError
from mlops_nb.serving import onnx_export
from tests.integration.user_models import CHURN_REF, churn_rows, user_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from user_project(tmp_path_factory.mktemp("export") / "proj")


def test_string_categories_keep_parity_on_the_users_test_data(project):
    data = project / "test.csv"
    churn_rows(300, seed=8).to_csv(data, index=False)
    result = onnx_export.export(CHURN_REF, project / "churn.onnx", test_data=data)
    assert result.rows_checked["test split"] == 300 and result.label_ties == 0
    assert (project / "churn.onnx").is_file()


def test_test_data_the_model_refuses_or_that_cannot_be_read_writes_nothing(project):
    frame = churn_rows(20, seed=9)
    frame.loc[2, "income"] = None
    missing, empty = project / "missing.csv", project / "empty.csv"
    frame.to_csv(missing, index=False)
    empty.write_bytes(b"")
    output = project / "refused.onnx"
    with pytest.raises(ExportError, match="cannot be scored to compare the models: Input X contains NaN"):
        onnx_export.export(CHURN_REF, output, test_data=missing)
    with pytest.raises(UsageError, match="cannot be read"):
        onnx_export.export(CHURN_REF, output, test_data=empty)
    assert not list(project.glob("*refused.onnx*"))
