"""Outcomes and charts in the panel (issue 8, items 2 and 4), on real pipeline runs in a committed repository:
a failed step's reason and failing cell, the gate tables, the artifact browser opening a JSON file, the default
metric taken from the pipeline file, and hostile tag values, artifact names and split columns shown as text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlops_nb import config, records, store
from tests.integration.pipeline_project import NOTEBOOK, make_data
from tests.ui.lab import JupyterLab, MlopsPanel, chromium, project_env

pytestmark = pytest.mark.ui

XSS = "<img src=x onerror=alert(1)>"
EXPERIMENT = "outcomes-dev"
MODEL = "outcomes-model"
PIPELINE_METRIC = "test_roc_auc"  # not the first metric by name (test_accuracy is)

HOSTILE_RUN = f"""
import mlflow, pandas as pd, mlops_nb
from mlops_nb import store
XSS = {XSS!r}
session = mlops_nb.track(experiment={EXPERIMENT!r}, run_name="hostile " + XSS, autolog=False)
frame = pd.DataFrame({{XSS: [1.0, 2.0, 3.0, 4.0], "label": [0, 1, 0, 1]}})
mlops_nb.log_split(train=frame, test=frame.iloc[:2])
mlops_nb.log_metrics({{"accuracy": 0.5}})
client = store.client()
client.set_tag(session.run_id, "owner", XSS)
import tempfile, pathlib
with tempfile.TemporaryDirectory() as tmp:
    page = pathlib.Path(tmp, XSS + ".html")
    page.write_text("<script>alert(document.domain)</script><p>" + XSS + "</p>")
    client.log_artifact(session.run_id, str(page), "reports")
mlops_nb.stop()
print(session.run_id)
"""


def _pipeline(root: Path) -> Path:
    spec = {
        "name": "outcomes",
        "notebook": "notebooks/classifier.ipynb",
        "parameters": {"max_iter": 200},
        "smoke": {"max_iter": 20},
        "data": {"source": "data.csv", "test_split": {"fraction": 0.25, "seed": 3}},
        "evaluation": {"target": "label", "task": "classification", "slice_column": "segment"},
        "model": {"name": MODEL, "metric": PIPELINE_METRIC},
        "gates": {
            "data": {"psi": 0.25, "ks": 0.25},
            "model": {
                PIPELINE_METRIC: {"threshold": 0.5, "min_absolute_change": 0.001, "greater_is_better": True}
            },
        },
        "timeouts": {"cell": 120, "run": 300},
        "environments": {"dev": {"experiment": EXPERIMENT}},
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _cli(root: Path, *args: str) -> str:
    """Run `mlops-nb ARGS` in the project; the pipeline run id it made (the newest)."""
    env = {**project_env(root), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    # a failing run exits non-zero on purpose: the run id is read from the store
    subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", *args], check=False, cwd=root, env=env, capture_output=True
    )
    client = store.client(config.load(root))
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = client.search_runs(
        [experiment],
        f"tags.`{records.TAG_PIPELINE_KIND}` = 'pipeline'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0].info.run_id


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "notebooks").mkdir()
        (root / "notebooks" / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
        (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n', encoding="utf-8")
        make_data(root / "data.csv")
        pipeline = _pipeline(root)
        for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
            subprocess.run(
                ["git", "-c", "user.name=ui", "-c", "user.email=ui@test", *args], cwd=root, check=True
            )
        self.passed = _cli(root, "run", str(pipeline), "--env", "dev")
        client = store.client(config.load(root))
        client.set_registered_model_alias(MODEL, "champion-dev", "1")
        self.gated = _cli(
            root, "run", str(pipeline), "--env", "dev"
        )  # the same model: fails min_absolute_change
        self.crashed = _cli(root, "run", str(pipeline), "--env", "dev", "-p", "mode=raise")
        env = {**project_env(root), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        out = subprocess.run(
            [sys.executable, "-c", HOSTILE_RUN], cwd=root, env=env, capture_output=True, check=True
        )
        self.hostile = out.stdout.decode().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLOPS_NB_RUN_ID", raising=False)
        return Project(tmp_path_factory.mktemp("outcomes"))


@pytest.fixture(scope="module")
def lab(project: Project) -> Iterator[JupyterLab]:
    server = JupyterLab(project.root)
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        ui = MlopsPanel(page)
        ui.open(lab)
        ui.choose_experiment(EXPERIMENT)
        ui.rows().first.wait_for(timeout=30_000)
        yield ui


def open_run(panel: MlopsPanel, run_id: str):
    """Open a top-level run's detail from the runs table; the detail's locator. A pipeline run's name opens
    its page, which links to the run's own detail."""
    panel.page.locator(f".mlops-nb-run-row[data-run-id='{run_id}'] .mlops-nb-run-name").click()
    detail = panel.page.locator(f".mlops-nb-run-detail[data-run-id='{run_id}']:visible")
    outline = panel.page.locator(".mlops-nb-pipeline-page:visible")
    detail.or_(outline).first.wait_for(timeout=30_000)
    if outline.count():
        outline.locator(".mlops-nb-toolbar .mlops-nb-link").click()
    detail.wait_for(timeout=30_000)
    return detail


def test_a_failed_steps_reason_and_cell_are_visible(project: Project, panel: MlopsPanel) -> None:
    detail = open_run(panel, project.gated)
    reason = detail.locator(".mlops-nb-run-error")
    reason.wait_for(timeout=30_000)
    assert "min_absolute_change check failed" in reason.locator(".mlops-nb-error-message").inner_text()
    code = detail.locator(".mlops-nb-code")
    assert "working-copy" in code.inner_text()  # the release it ran
    assert "—" not in code.locator("tr", has_text="git commit").inner_text()  # the commit, not a dash
    assert "ui_url" in detail.locator(".mlops-nb-ui-hint").inner_text()
    assert detail.locator(".mlops-nb-open-mlflow").is_disabled()
    panel.screenshot("detail-01-failed-pipeline-reason")
    reason.locator(".mlops-nb-failed-step").click()
    step = panel.page.locator(".mlops-nb-run-detail:visible", has_text="model_validation")
    step.locator(".mlops-nb-run-error").wait_for(timeout=30_000)
    assert "min_absolute_change check failed" in step.locator(".mlops-nb-run-error").inner_text()
    panel.screenshot("detail-02-failed-step-reason")

    detail = open_run(panel, project.crashed)
    cell = detail.locator(".mlops-nb-failing-cell")
    cell.wait_for(timeout=30_000)
    assert "cell 5" in cell.inner_text()
    assert (
        'raise RuntimeError("boom from the notebook")' in cell.locator(".mlops-nb-cell-source").inner_text()
    )
    panel.screenshot("detail-03-failing-cell")


def test_the_pipeline_page_shows_a_failed_steps_message_whole(project: Project, panel: MlopsPanel) -> None:
    """The steps table's Outputs cell wraps: a long error was cut at the table cell's 320 px, without a title."""
    panel.page.locator(f".mlops-nb-run-row[data-run-id='{project.crashed}'] .mlops-nb-run-name").click()
    outline = panel.page.locator(".mlops-nb-pipeline-page:visible")
    error = outline.locator("tr[data-step='training'] .mlops-nb-error-text")
    error.wait_for(timeout=30_000)
    assert "boom from the notebook" in error.inner_text()
    assert "fix the cell and run again" in error.inner_text()
    cell = outline.locator("tr[data-step='training'] td").last
    scroll, client = cell.evaluate("td => [td.scrollWidth, td.clientWidth]")
    assert scroll <= client, f"the message overflows its cell ({scroll} px in {client} px)"
    panel.screenshot("detail-09-pipeline-page-failed-step")


def test_gate_tables_show_raw_values_and_thresholds(project: Project, panel: MlopsPanel) -> None:
    detail = open_run(panel, project.gated)
    data = detail.locator(".mlops-nb-gate[data-gate='data']")
    data.wait_for(timeout=30_000)
    psi = data.locator("tr[data-check='psi']")
    assert psi.count() >= 4  # one per numeric column
    cells = psi.first.locator("td").all_inner_texts()
    assert (
        float(cells[1]) >= 0 and float(cells[2]) == 0.25 and cells[3] == "pass"
    )  # value, threshold, verdict
    assert data.locator("tr[data-check='ks']").count() >= 4
    model = detail.locator(".mlops-nb-gate[data-gate='model']")
    model.wait_for(timeout=30_000)
    rows = model.locator("tbody tr")
    assert rows.count() == 2
    threshold = rows.filter(has_text="threshold").first.locator("td").all_inner_texts()
    assert threshold[2] != "" and threshold[-1] == "pass"  # the candidate's raw value though it passes
    failing = rows.filter(has_text="min_absolute_change").locator("td").all_inner_texts()
    assert failing[2] == failing[3] and failing[-1] == "fail"  # candidate equals champion
    model.scroll_into_view_if_needed()
    panel.screenshot("detail-04-gate-tables")

    detail = open_run(panel, project.passed)
    registration = detail.locator(".mlops-nb-registration")
    registration.wait_for(timeout=30_000)
    assert "version 1" in registration.inner_text()
    assert {"@challenger", "@champion-dev"} <= set(registration.locator(".mlops-nb-alias").all_inner_texts())
    metric = detail.locator(".mlops-nb-metrics tr[data-metric='test_accuracy'] .mlops-nb-computed-on")
    assert "computed on" in metric.inner_text() and "testing" in metric.inner_text()
    detail.locator(".mlops-nb-small-multiple").first.locator("[data-drawn='true']").wait_for(timeout=60_000)
    assert detail.locator(".mlops-nb-small-multiple").count() == 5  # one per metric
    panel.screenshot("detail-05-registration-small-multiples")


def test_the_artifact_browser_opens_a_json_file(project: Project, panel: MlopsPanel) -> None:
    detail = open_run(panel, project.passed)
    browser = detail.locator(".mlops-nb-artifacts")
    folder = browser.locator(".mlops-nb-artifact-entry", has_text="pipeline").first
    folder.locator("svg").first.wait_for(timeout=30_000)  # the listing is fetched after the detail shows
    # JupyterLab's folder icon, not an emoji that a browser without an emoji font draws as a box
    assert folder.locator("svg").count() == 1 and folder.inner_text().strip() == "pipeline"
    folder.click()
    browser.locator("tr[data-artifact='pipeline/summary.json'] .mlops-nb-artifact-entry").click()
    viewer = browser.locator(".mlops-nb-artifact-viewer[data-path='pipeline/summary.json'] pre")
    viewer.wait_for(timeout=30_000)
    assert '"steps": [' in viewer.inner_text()  # pretty-printed
    viewer.scroll_into_view_if_needed()
    panel.screenshot("detail-06-artifact-json")


def test_the_default_metric_comes_from_the_pipeline_file(project: Project, panel: MlopsPanel) -> None:
    page = panel.page
    for run_id in (project.passed, project.gated):
        page.locator(f".mlops-nb-run-row[data-run-id='{run_id}'] .mlops-nb-select-cell").click()
    panel.compare()
    panel.wait_for_charts()
    select = page.locator(".mlops-nb-metric-select:visible")
    assert select.input_value() == PIPELINE_METRIC  # not test_accuracy, the first by name
    assert "model.metric" in page.locator(".mlops-nb-default-metric:visible").inner_text()
    assert page.locator(".mlops-nb-curves:visible .barlayer .point").count() == 2  # one bar per run
    assert page.locator(".mlops-nb-curves:visible", has_text="over steps").count() == 0
    labels = page.locator(".mlops-nb-parcoords:visible .xtick text").all_text_contents()  # the axis titles
    assert labels and not any("__" in label for label in labels), labels
    panel.screenshot("detail-07-default-metric-from-pipeline")


def test_hostile_tag_values_artifact_names_and_split_columns_are_text(
    project: Project, panel: MlopsPanel
) -> None:
    page = panel.page
    detail = open_run(panel, project.hostile)
    user_tags = detail.locator("details[data-tag-group='user']")
    user_tags.wait_for(timeout=30_000)
    assert user_tags.locator(".mlops-nb-tag-value").all_inner_texts() == [XSS]
    train = detail.locator(".mlops-nb-split[data-split='train']")
    train.locator("summary").click()
    assert XSS in train.locator("tbody th").all_inner_texts()
    browser = detail.locator(".mlops-nb-artifacts")
    browser.locator(".mlops-nb-artifact-entry", has_text="reports").click()
    entry = browser.locator(".mlops-nb-artifact-entry", has_text=XSS)
    assert entry.inner_text() == f"{XSS}.html"
    entry.click()
    frame = browser.locator("iframe.mlops-nb-artifact-html")
    frame.wait_for(timeout=30_000)
    assert frame.get_attribute("sandbox") == ""  # no scripts, no same origin
    # the report is HTML, drawn in the sandbox: its <img onerror> exists there but no script runs
    report = page.frame_locator("iframe.mlops-nb-artifact-html")
    report.locator("p img[src='x']").wait_for(state="attached", timeout=30_000)
    frame.scroll_into_view_if_needed()
    panel.screenshot("detail-08-hostile-tags-artifacts-columns")
    injected = page.evaluate(
        "() => Array.from(document.querySelectorAll('img')).filter(i => i.getAttribute('src') === 'x').length"
    )
    assert injected == 0 and panel.dialogs == []
