"""The MLOps sidebar in a real JupyterLab, on a store seeded by executing real notebooks (issue 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_nb import config, store
from tests.ui.lab import FIXTURES, REPO, JupyterLab, MlopsPanel, chromium, execute_notebooks, git_project

pytestmark = pytest.mark.ui

XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_TAG = "team/owner: a.b"  # MLflow refuses markup in keys; the values carry it
EXPERIMENT = "train_classifier"  # the example notebook's experiment
ALPHAS = (0.01, 0.001, 0.0001)
MLFLOW_UI = "http://127.0.0.1:5999"  # configured only: the test checks the link, nothing listens there


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """The example notebook executed three times with different alphas, plus a run with a hostile name."""
    project = tmp_path_factory.mktemp("project")
    notebook = git_project(project, REPO / "notebooks" / "train_classifier.ipynb", ui_url=MLFLOW_UI)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("MLOPS_NB_RUN_ID", raising=False)
        execute_notebooks(project, notebook, [{"alpha": alpha, "epochs": 4} for alpha in ALPHAS])
        hostile = {
            "run_name": XSS_NAME,
            "optimizer": XSS_NAME,
            "experiment": EXPERIMENT,
            "lr": 0.05,
            "seed": 4,
        }
        execute_notebooks(project, FIXTURES / "seed_run.ipynb", [hostile])
        client = store.client(config.load(project))
        for run in client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id]):
            if run.info.run_name == XSS_NAME:
                client.set_tag(run.info.run_id, XSS_TAG, XSS_NAME)
        hostile_experiment = client.create_experiment(XSS_NAME)
        run = client.create_run(hostile_experiment, run_name="plain", tags={XSS_TAG: XSS_NAME})
        client.log_param(run.info.run_id, "optimizer", XSS_NAME)
        client.set_terminated(run.info.run_id)
    server = JupyterLab(project)
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        ui = MlopsPanel(page)
        ui.open(lab)
        yield ui


def test_browse_compare_and_trace(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment(EXPERIMENT)
    panel.rows().first.wait_for(timeout=30_000)
    assert panel.rows().count() == len(ALPHAS) + 1
    assert page.locator(".mlops-nb-run-count").inner_text().startswith("4 top-level runs")
    panel.screenshot("01-runs")

    notebook_runs = panel.rows().filter(has_not_text=XSS_NAME)
    for i in range(len(ALPHAS)):
        notebook_runs.nth(i).locator(".mlops-nb-select-cell").click()
    assert page.locator(".mlops-nb-selected").count() == 3
    panel.compare()
    panel.wait_for_charts()
    for chart in ("parcoords", "curves", "scatter"):
        assert page.locator(f".mlops-nb-{chart} svg.main-svg").count() > 0, chart
    # parallel coordinates: a coloured line per run; alpha spans decades, so its axis is log with its values as ticks
    assert page.locator(".mlops-nb-parcoords .scatterlayer .trace").count() == len(ALPHAS)
    assert "alpha (log)" in page.locator(".mlops-nb-parcoords .xtick text").all_text_contents()
    ticks = page.locator(".mlops-nb-parcoords .annotation-text").all_text_contents()
    assert {"0.01", "0.001", "0.0001"} <= set(ticks), ticks
    # the default metric is one the notebook logged once per run: a bar per run, not points "over steps"
    assert page.locator(".mlops-nb-curves .barlayer .point").count() == 3
    page.locator(".mlops-nb-metric-select").select_option("val_loss")  # logged per epoch: one curve per run
    page.locator(".mlops-nb-curves .scatterlayer .trace").nth(2).wait_for(timeout=30_000)
    assert page.locator(".mlops-nb-curves .scatterlayer .trace").count() == 3

    table = page.locator(".mlops-nb-params-compare")
    assert table.locator("tr[data-param='epochs']").count() == 1  # equal in the three runs
    panel.screenshot("02-compare")
    table.locator(".mlops-nb-diff-only").check()
    assert table.locator("tr[data-param='epochs']").count() == 0
    assert table.locator("tr[data-param='test_size']").count() == 0
    assert table.locator("tr[data-param='alpha']").count() == 1
    table.scroll_into_view_if_needed()
    panel.screenshot("03-compare-differences-only")

    run_id = notebook_runs.first.get_attribute("data-run-id")
    client = store.client(config.load(lab.project))
    client.create_registered_model("classifier")
    version = client.create_model_version("classifier", f"runs:/{run_id}/model", run_id=run_id).version
    client.set_registered_model_alias("classifier", "champion", version)

    notebook_runs.first.locator(".mlops-nb-run-name").click()
    detail = page.locator(".mlops-nb-run-detail:visible")
    detail.locator(".mlops-nb-lineage").wait_for(timeout=30_000)
    classes = detail.locator(".mlops-nb-node").evaluate_all("els => els.map(e => e.getAttribute('class'))")
    for node_type in ("run", "dataset", "notebook", "commit", "model_version"):
        assert any(f"mlops-nb-node-{node_type}" in c for c in classes), (node_type, classes)
    detail.locator(".mlops-nb-model-version", has_text="classifier v1 @champion").click()
    root = detail.locator(".mlops-nb-node-root[data-node-id^='model_version:'] .mlops-nb-node-label")
    root.wait_for(timeout=30_000)
    assert root.text_content() == "classifier v1"
    assert detail.locator(".mlops-nb-split[data-split='train']").count() == 1
    assert detail.locator(".mlops-nb-split[data-split='test']").count() == 1
    train = detail.locator(".mlops-nb-split[data-split='train']")
    train.locator("summary").click()
    assert train.locator("tbody tr").count() == 31  # 30 features and the target
    assert train.locator("svg.mlops-nb-sparkbars").count() > 0
    train.locator("tbody tr").first.scroll_into_view_if_needed()
    panel.screenshot("04a-split-statistics")
    link = detail.locator(".mlops-nb-open-mlflow")
    assert link.get_attribute("href").startswith(MLFLOW_UI + "/")
    assert "noopener" in link.get_attribute("rel")
    detail.locator(".mlops-nb-lineage-section").scroll_into_view_if_needed()
    panel.screenshot("04-run-detail-lineage")

    detail.locator(".mlops-nb-open-snapshot").click()
    page.locator(".jp-NotebookPanel .jp-Cell .cm-content", has_text="%load_ext mlops_nb").wait_for(
        timeout=30_000
    )
    assert "train_classifier.ipynb" in page.locator(".lm-DockPanel-tabBar .lm-mod-current").inner_text()
    panel.screenshot("05-notebook-snapshot")


def test_malicious_run_name_shows_as_text(panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment(EXPERIMENT)
    row = panel.row(XSS_NAME)
    row.wait_for(timeout=30_000)
    assert row.locator(".mlops-nb-run-name").inner_text() == XSS_NAME
    panel.rows().filter(has_not_text=XSS_NAME).first.locator(".mlops-nb-select-cell").click()
    panel.select(XSS_NAME)
    panel.compare()
    panel.wait_for_charts()
    shown = XSS_NAME[:23]  # a chart's run label is cut to 24 characters; the whole name is the chip's title
    chip = page.locator(".mlops-nb-chip", has_text=shown).first
    chip.wait_for()
    assert chip.get_attribute("title").startswith(XSS_NAME)
    bars = page.locator(".mlops-nb-curves:visible .xtick text").evaluate_all(  # a bar per run, labelled
        "els => els.map(e => e.textContent)"
    )
    assert any(text.startswith(shown) for text in bars), bars
    ticks = page.locator(".mlops-nb-parcoords:visible .annotation-text").evaluate_all(  # the axes' ticks
        "els => els.map(e => e.textContent)"
    )
    assert any(text.startswith("<img src=x") for text in ticks), ticks  # the hostile param value, as text
    row.locator(".mlops-nb-run-name").click()
    page.locator(".mlops-nb-run-title", has_text=XSS_NAME).wait_for(timeout=30_000)
    page.locator(".mlops-nb-lineage").last.wait_for(timeout=30_000)
    panel.screenshot("06-xss-run-as-text")
    injected = page.evaluate(
        "() => Array.from(document.querySelectorAll('img')).filter(i => i.getAttribute('src') === 'x').length"
    )
    assert injected == 0
    assert panel.dialogs == []


def test_hostile_tag_values_and_experiment_names_show_as_text(panel: MlopsPanel) -> None:
    """An experiment named like markup, and param and tag values that are markup: all plain text."""
    page = panel.page
    name = page.locator(".mlops-nb-experiment-name").filter(has_text=XSS_NAME)
    name.wait_for(timeout=30_000)
    assert name.inner_text() == XSS_NAME
    page.locator(".mlops-nb-experiment", has=name).click()
    assert page.locator(".mlops-nb-experiment-title").inner_text() == XSS_NAME
    panel.row("plain").wait_for(timeout=30_000)
    header = page.locator(".mlops-nb-header-row")
    assert (
        panel.row("plain").locator("[data-column='p:optimizer']").inner_text() == XSS_NAME
    )  # a default column
    page.locator(".mlops-nb-columns-button").click()
    option = page.locator(f".mlops-nb-columns-option[data-column='t:{XSS_TAG}']")
    assert option.inner_text().strip() == XSS_TAG
    option.locator("input").check()
    tag_header = header.locator(f"[data-column='t:{XSS_TAG}']")
    tag_header.wait_for()
    assert tag_header.inner_text() == XSS_TAG
    assert panel.row("plain").locator(f"[data-column='t:{XSS_TAG}']").inner_text() == XSS_NAME
    page.locator(".mlops-nb-back").click()
    panel.choose_experiment(EXPERIMENT)  # the hostile run's tag value in the notebook experiment's table
    page.locator(".mlops-nb-columns-button").click()
    page.locator(f".mlops-nb-columns-option[data-column='t:{XSS_TAG}'] input").check()
    cell = panel.row(XSS_NAME).locator(f"[data-column='t:{XSS_TAG}']")
    cell.wait_for(timeout=30_000)
    assert cell.inner_text() == XSS_NAME
    panel.screenshot("06b-hostile-tags-and-experiment")
    injected = page.evaluate(
        """() => document.querySelectorAll('img[src="x"]').length +
            Array.from(document.querySelectorAll('[onerror]')).length"""
    )
    assert injected == 0
    assert panel.dialogs == []


def test_filter_sort_and_refresh(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment(EXPERIMENT)
    panel.rows().first.wait_for(timeout=30_000)

    search = page.locator(".mlops-nb-filter-input")
    search.fill("params.alpha = '0.001'")
    search.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.mlops-nb-run-row').length === 1")
    search.fill("params.alpha ~ 1")
    search.press("Enter")
    page.locator(".mlops-nb-runs .mlops-nb-error").wait_for(timeout=30_000)  # the server's 400 message
    search.fill("")
    search.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.mlops-nb-run-row').length === 4")

    page.locator(".mlops-nb-header-cell[data-column='name']").click()  # descending by name
    page.locator(".mlops-nb-header-cell[data-column='name']", has_text="▼").wait_for()
    page.wait_for_function(  # rows in descending name order ('<' sorts before letters)
        """() => {
            const rows = Array.from(document.querySelectorAll('.mlops-nb-run-row'));
            rows.sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
            const names = rows.map(r => r.querySelector('.mlops-nb-run-name').textContent);
            const descending = names[0] > names[1] && names[1] > names[2];
            return names.length === 4 && descending && names[3].startsWith('<img');
        }"""
    )

    client = store.client(config.load(lab.project))
    experiment_id = client.get_experiment_by_name(EXPERIMENT).experiment_id
    live = client.create_run(experiment_id, run_name="zz-live")
    try:
        page.locator(".mlops-nb-runs .mlops-nb-button", has_text="⟳").click()  # explicit refresh
        live_row = panel.row("zz-live")
        live_row.locator("[data-status='RUNNING']").wait_for(timeout=30_000)
        client.set_terminated(live.info.run_id)
        live_row.locator("[data-status='FINISHED']").wait_for(timeout=30_000)  # refreshed by itself
    finally:
        client.delete_run(live.info.run_id)
