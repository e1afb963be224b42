"""`%mlops compare` in a real kernel renders the comparison widget over the project's runs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.helpers import make_notebook, papermill
from tests.server.seeding import seed_project


def test_compare_magic_renders_table_and_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "proj"
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(root))
    seeded = seed_project(root)
    notebook = make_notebook(
        root / "compare.ipynb", ["%load_ext mlops_nb", "%mlops compare --last 4 --metric loss"]
    )
    papermill(notebook, root / "out.ipynb", env={"MLOPS_NB_PROJECT": str(root)})
    executed = nbformat.read(root / "out.ipynb", as_version=4)
    (view,) = [
        out
        for out in executed.cells[1].outputs
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert view["output_type"] == "display_data"
    state = json.dumps(executed.metadata.get("widgets", {}))
    assert "SelectMultiple" in state
    options = next(
        model["state"]["_options_labels"]
        for model in executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"][
            "state"
        ].values()
        if model["model_name"] == "SelectMultipleModel"
    )
    assert len(options) == 4
    assert any("⚠ split_leakage" in label for label in options)
    assert "parcoords" in state  # the parallel-coordinates figure, captured in an Output widget
    assert "loss over steps" in state
    assert seeded.experiment_id
