"""The runs table as a tree on a real sweep (issue 8): the sweep → points → steps, the best point marked by the
sweep's own choice, the pipeline and sweep pages, and the column chooser kept across a reload."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml

from mlops_nb import config, records, store
from tests.integration.pipeline_project import NOTEBOOK, make_data
from tests.ui.lab import JupyterLab, MlopsPanel, chromium, project_env

pytestmark = pytest.mark.ui

EXPERIMENT = "tree-demo"
MODEL = "tree-classifier"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """A project with one real 2-point sweep (`mlops-nb sweep`, two local workers) and one notebook run."""
    root = tmp_path_factory.mktemp("tree-project")
    (root / "mlops.toml").write_text("", encoding="utf-8")
    notebook = root / "notebooks" / NOTEBOOK.name
    notebook.parent.mkdir()
    shutil.copy(NOTEBOOK, notebook)
    spec = {
        "name": "tree",
        "experiment": EXPERIMENT,
        "notebook": str(notebook),
        "parameters": {"max_iter": 100},
        "smoke": {"max_iter": 20},
        "data": {"source": str(make_data(root / "data.csv")), "test_split": {"fraction": 0.25, "seed": 3}},
        "evaluation": {"target": "label", "task": "classification"},
        "model": {"name": MODEL, "metric": "test_accuracy"},
        "gates": {"model": {"test_accuracy": {"threshold": 0.5, "greater_is_better": True}}},
    }
    (root / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    env = {**project_env(root), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    command = ["sweep", "pipeline.yaml", "--grid", "C=0.01,1.0", "--workers", "2", "--json", "--no-progress"]
    sweep = subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", *command],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    summary = json.loads(sweep.stdout)
    settings = config.load(root)
    client = store.client(settings)
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    notebook_run = client.create_run(experiment_id, run_name="exploring", tags={"team": "vision"})
    client.log_param(notebook_run.info.run_id, "C", "0.5")
    client.log_metric(notebook_run.info.run_id, "test_accuracy", 0.5)
    client.set_terminated(notebook_run.info.run_id)
    server = JupyterLab(root)
    server.summary = summary  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        ui = MlopsPanel(page)
        ui.open(lab)
        yield ui


def test_sweep_tree_marks_the_sweeps_best_point(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    summary = lab.summary  # type: ignore[attr-defined]
    best_id = summary["best"]["run_id"]
    panel.choose_experiment(EXPERIMENT)
    panel.rows().first.wait_for(timeout=30_000)
    # only the top level: the sweep and the notebook run, not the points or their steps
    page.wait_for_function("() => document.querySelectorAll('.mlops-nb-run-row').length === 2")
    sweep_row = page.locator(f".mlops-nb-run-row[data-run-id='{summary['run_id']}']")
    assert sweep_row.get_attribute("data-depth") == "0"
    sweep_row.locator(".mlops-nb-expander").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.mlops-nb-run-row[data-depth=\"1\"]').length === 2"
    )
    best_row = page.locator(f".mlops-nb-run-row[data-run-id='{best_id}']")
    assert best_row.locator(".mlops-nb-best-mark").count() == 1
    # under its sweep a point reads by what sets it apart (its parameters), the full name on hover
    points = page.locator(".mlops-nb-run-row[data-depth='1'] .mlops-nb-run-name").all_inner_texts()
    assert sorted(points) == ["C=0.01 max_iter=100", "C=1.0 max_iter=100"], points
    assert best_row.locator(".mlops-nb-run-name").get_attribute("title").startswith("tree C=")
    assert page.locator(".mlops-nb-run-row .mlops-nb-best-mark").count() == 1  # one best point only
    best_row.locator(".mlops-nb-expander").click()
    steps = page.locator(".mlops-nb-run-row[data-depth='2']")
    page.wait_for_function(
        "() => document.querySelectorAll('.mlops-nb-run-row[data-depth=\"2\"]').length === 6"
    )
    assert "registration" in steps.all_inner_texts()[-1]
    names = steps.locator(".mlops-nb-run-name").all_inner_texts()
    assert names == [
        "ingestion",
        "data_validation",
        "training",
        "evaluation",
        "model_validation",
        "registration",
    ]
    panel.screenshot("10-sweep-tree-best-point")

    sweep_row.locator(".mlops-nb-run-name").click()  # the sweep's page
    sweep_page = page.locator(".mlops-nb-sweep-page")
    sweep_page.wait_for(timeout=30_000)
    marked = sweep_page.locator("tr[data-best='true']")
    marked.wait_for()
    assert marked.get_attribute("data-run-id") == best_id
    assert sweep_page.locator("tbody tr").first.get_attribute("data-run-id") == best_id  # ranked first
    version = summary["model_version"]
    assert f"v{version}" in sweep_page.locator(".mlops-nb-registered").inner_text()
    assert "@challenger" in sweep_page.locator(".mlops-nb-registered").inner_text()
    panel.screenshot("11-sweep-page")

    marked.locator(".mlops-nb-link").first.click()  # the best point's pipeline page
    pipeline_page = page.locator(".mlops-nb-pipeline-page")
    pipeline_page.wait_for(timeout=30_000)
    pipeline_page.locator("tr[data-step='registration']").wait_for()
    steps_text = {
        step: pipeline_page.locator(f"tr[data-step='{step}']").inner_text()
        for step in (records.STEP_INGESTION, records.STEP_MODEL_VALIDATION, records.STEP_REGISTRATION)
    }
    assert "rows ingested" in steps_text[records.STEP_INGESTION]
    assert "gate passed" in steps_text[records.STEP_MODEL_VALIDATION]
    assert f"{MODEL} v{version}" in steps_text[records.STEP_REGISTRATION]
    panel.screenshot("12-pipeline-page")


def test_column_chooser_persists_across_a_reload(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment(EXPERIMENT)
    panel.rows().first.wait_for(timeout=30_000)
    header = page.locator(".mlops-nb-header-row")
    header.locator("[data-column='m:test_accuracy']").wait_for()  # the pipeline's metric, by default
    assert header.locator("[data-column='t:team']").count() == 0  # tags only once chosen
    page.locator(".mlops-nb-columns-button").click()
    page.locator(".mlops-nb-columns-option[data-column='t:team'] input").check()
    page.locator(".mlops-nb-columns-option[data-column='m:test_accuracy'] input").uncheck()
    header.locator("[data-column='t:team']").wait_for()
    panel.screenshot("13-column-chooser")
    page.locator(".mlops-nb-columns-menu .mlops-nb-link", has_text="close").click()
    panel.widen(420)  # narrow: the table scrolls sideways, the run names stay in place
    name = panel.row("exploring").locator(".mlops-nb-run-name")
    before = name.bounding_box()
    page.locator(".mlops-nb-scroller").evaluate("el => { el.scrollLeft = 300; }")
    page.wait_for_function("() => document.querySelector('.mlops-nb-scroller').scrollLeft > 0")
    assert name.bounding_box() == before
    assert name.is_visible()
    saved = lab.home / "settings" / "mlops-nb" / "plugin.jupyterlab-settings"
    deadline = time.monotonic() + 30
    while "t:team" not in (saved.read_text() if saved.exists() else ""):
        assert time.monotonic() < deadline, "the column choice never reached the settings"
        page.wait_for_timeout(100)
    panel.open(lab)
    panel.choose_experiment(EXPERIMENT)
    panel.rows().first.wait_for(timeout=30_000)
    header.locator("[data-column='t:team']").wait_for(timeout=30_000)
    assert header.locator("[data-column='m:test_accuracy']").count() == 0
    assert page.locator(".mlops-nb-run-row [data-column='t:team']", has_text="vision").count() == 1
    panel.screenshot("14-column-chooser-after-reload")
