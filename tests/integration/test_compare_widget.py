"""`%mlops compare` in a real kernel renders the comparison widget over the project's runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.helpers import BIN, make_notebook
from tests.server.seeding import seed_project


def test_compare_magic_renders_table_and_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "proj"
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(root))
    seeded = seed_project(root)
    notebook = make_notebook(
        root / "compare.ipynb", ["%load_ext mlops_nb", "%mlops compare --last 4 --metric loss"]
    )
    done = subprocess.run(
        [str(BIN / "papermill"), "--log-level", "WARNING", "-k", "python3", "--start-timeout", "120",
         "--execution-timeout", "240", str(notebook), str(root / "out.ipynb")],
        env={**os.environ, "MLOPS_NB_PROJECT": str(root)}, cwd=root, capture_output=True, text=True, timeout=420,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
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
    assert "&lt;img src=x onerror=alert(1)&gt;" in state  # the HTML run name shows escaped in the runs table
    assert "<td><img" not in state
    assert "parcoords" in state  # the parallel-coordinates figure, captured in an Output widget
    assert "loss over steps" in state
    assert seeded.experiment_id
