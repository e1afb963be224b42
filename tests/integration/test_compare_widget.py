"""`%mlops compare` in a real kernel renders the comparison widget over the project's runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.helpers import BIN, make_notebook, papermill
from tests.integration import compare_project
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


def _widget_state(path: Path) -> dict[str, dict]:
    executed = nbformat.read(path, as_version=4)
    return executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]


def _figures(state: dict[str, dict]) -> dict[str, dict]:
    """The plotly figures the widget's Output widgets hold, by title."""
    found = {}
    for model in state.values():
        for out in model["state"].get("outputs", []):
            figure = out.get("data", {}).get("application/vnd.plotly.v1+json")
            if figure:
                found[figure["layout"]["title"]["text"]] = figure
    return found


def test_compare_in_a_kernel_reads_like_the_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "proj"
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(root))
    compare_project.seed(root, interactive=4, pipelines=2)
    notebook = make_notebook(root / "compare.ipynb", ["%load_ext mlops_nb", "%mlops compare --last 5"])
    papermill(notebook, root / "out.ipynb", env={"MLOPS_NB_PROJECT": str(root)})
    state = _widget_state(root / "out.ipynb")
    by_kind: dict[str, list[dict]] = {}
    for model in state.values():
        by_kind.setdefault(model["model_name"], []).append(model["state"])

    (runs,) = by_kind["SelectMultipleModel"]
    assert len(runs["_options_labels"]) == 5 and not any("·" in label for label in runs["_options_labels"])
    metric = next(d for d in by_kind["DropdownModel"] if d["description"] == "Metric")
    labels = metric["_options_labels"]
    assert labels[metric["index"]] == "test_accuracy  (pipeline)"  # not accuracy_score_X_test, first by name
    assert labels.index("test_accuracy  (pipeline)") < labels.index("accuracy_score_X_test  (autolog)")
    (toggle,) = by_kind["CheckboxModel"]
    assert toggle["description"] == "differences only" and toggle["value"] is True

    details = next(h["value"] for h in by_kind["HTMLModel"] if "<table" in h["value"])
    assert "SGDClassifier(" not in details and "sgdclassifier" not in details  # no autolog reprs
    assert "&lt;img src=x onerror=alert(1)&gt;" in details and "<img" not in details
    assert ">alpha<" in details and ">seed<" not in details  # seed is the same in every run

    figures = _figures(state)
    bars = figures["test_accuracy per run"]["data"][0]
    assert bars["type"] == "bar" and len(bars["x"]) == 5 and len(set(bars["marker"]["color"])) == 5
    assert len(set(bars["x"])) == 5  # a run's label ends with the start of its id: one bar per run
    assert any(x.startswith("&lt;img src=x onerror=") for x in bars["x"])  # cut, entities as text
    coordinates = figures["params → test_accuracy"]["data"][0]
    axes = {d["label"]: d for d in coordinates["dimensions"]}
    assert set(axes) == {"alpha (log)", "epochs", "penalty", "test_accuracy"}
    assert axes["alpha (log)"]["ticktext"] == ["0.0001", "0.001", "0.01", "0.1"]
    assert axes["penalty"]["ticktext"] == ["l1", "l2"]  # categorical values as categories
    scatter = figures["test_accuracy vs alpha"]
    assert scatter["layout"]["xaxis"]["type"] == "log"
    assert scatter["data"][0]["mode"] == "markers+text" and len(scatter["data"][0]["text"]) == 5
    assert scatter["data"][0]["marker"]["color"] == bars["marker"]["color"]  # one colour per run


def test_controls_redraw_in_an_ipython_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "proj"
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(root))
    monkeypatch.chdir(tmp_path)
    compare_project.seed(root, interactive=4, pipelines=2)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "mlops_nb")
    result = shell.run_cell("from mlops_nb.ipython.widgets import compare_widget\nw = compare_widget(last=5)")
    result.raise_error()
    import ipywidgets

    view = shell.user_ns["w"]

    def find(kind: type, description: str | None = None) -> Any:
        pending = list(view.children)
        while pending:
            widget = pending.pop()
            if isinstance(widget, kind) and description in (None, widget.description):
                return widget
            pending += list(getattr(widget, "children", ()))
        raise AssertionError(f"no {kind.__name__} {description or ''}")

    details = next(w for w in view.children if isinstance(w, ipywidgets.HTML) and "<table" in w.value)
    toggle, picker = find(ipywidgets.Checkbox), find(ipywidgets.Dropdown, "Metric")
    differing = details.value
    toggle.value = False
    assert ">seed<" in details.value and ">seed<" not in differing  # every user param, same or not
    assert "sgdclassifier" not in details.value  # autolog duplicates never
    picker.value = "val_loss"
    assert ">val_loss<" in details.value
    runs = find(ipywidgets.SelectMultiple)
    runs.value = runs.value[:2]
    assert details.value.count("<tr>") == 3  # header and the two runs
    assert ">mode<" in details.value and ">warnings<" not in details.value  # no run has a warning
    toggle.value = True  # the two runs share their status and mode: constant columns go
    assert ">mode<" not in details.value and ">status<" not in details.value
    missing = shell.run_cell("%mlops compare --last 5 --metric nope")
    assert "No run here logged metric 'nope'" in str(missing.error_in_exec)  # IPython shows it as a message
    assert type(missing.error_in_exec).__name__ == "UsageError"


def test_hostile_categorical_values_are_escaped_in_the_figures() -> None:
    from mlops_nb.ipython import figures

    axis = figures.dimension("model", ["<b>x</b>", "svm"])
    assert axis["ticktext"] == ["&lt;b&gt;x&lt;/b&gt;", "svm"]
    point = figures.scatter("model", ["<b>x</b>"], "acc", [0.5], names=["a"], colours=["#000"])
    assert point["data"][0]["x"] == ["&lt;b&gt;x&lt;/b&gt;"]
