"""The MLOps sidebar in a real JupyterLab, on a store seeded by executing real notebooks (issue 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.lab import JupyterLab, MlopsPanel, chromium, seed_with_notebook

pytestmark = pytest.mark.ui

XSS_NAME = "<img src=x onerror=alert(1)>"
RUNS = [
    {"run_name": "alpha", "lr": 0.1, "depth": 3, "seed": 1},
    {"run_name": "beta", "lr": 0.3, "depth": 3, "seed": 2},
    {"run_name": "gamma", "lr": 0.03, "depth": 6, "seed": 3},
    {"run_name": XSS_NAME, "lr": 0.05, "depth": 5, "seed": 4},
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    project = tmp_path_factory.mktemp("project")
    (project / "mlops.toml").write_text('experiment = "ui_test"\n')
    seed_with_notebook(project, [{**run, "experiment": "ui_test"} for run in RUNS])
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


def test_browse_compare_and_trace(panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment("ui_test")
    panel.rows().first.wait_for(timeout=30_000)
    assert panel.rows().count() == len(RUNS)
    assert page.locator(".mlops-nb-run-count").inner_text().startswith("4 of 4")
    panel.screenshot("01-runs")

    panel.select("alpha", "beta", "gamma")
    assert page.locator(".mlops-nb-selected").count() == 3
    panel.compare()
    panel.wait_for_charts()
    for chart in ("parcoords", "curves", "scatter"):
        assert page.locator(f".mlops-nb-{chart} svg.main-svg").count() > 0, chart
    assert page.locator(".mlops-nb-curves .scatterlayer .trace").count() == 3

    table = page.locator(".mlops-nb-params-compare")
    assert table.locator("tr[data-param='optimizer']").count() == 1  # equal in all three runs
    panel.screenshot("02-compare", full_page=True)
    table.locator(".mlops-nb-diff-only").check()
    assert table.locator("tr[data-param='optimizer']").count() == 0
    assert table.locator("tr[data-param='lr']").count() == 1
    assert table.locator("tr[data-param='depth']").count() == 1
    panel.screenshot("03-compare-differences-only")

    panel.row("gamma").locator(".mlops-nb-run-name").click()
    detail = page.locator(".mlops-nb-run-detail:visible")
    detail.locator(".mlops-nb-lineage").wait_for(timeout=30_000)
    node_types = detail.locator(".mlops-nb-node").evaluate_all("els => els.map(e => e.getAttribute('class'))")
    assert any("mlops-nb-node-run" in t for t in node_types)
    assert any("mlops-nb-node-dataset" in t for t in node_types)
    assert any("mlops-nb-node-commit" in t for t in node_types)
    assert detail.locator(".mlops-nb-split[data-split='train']").count() == 1
    panel.screenshot("04-run-detail-lineage")

    detail.locator(".mlops-nb-open-snapshot").click()
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=30_000)
    assert "seed_run.ipynb" in page.locator(".lm-DockPanel-tabBar .lm-mod-current").inner_text()
    panel.screenshot("05-notebook-snapshot")


def test_malicious_run_name_shows_as_text(panel: MlopsPanel) -> None:
    page = panel.page
    panel.choose_experiment("ui_test")
    row = panel.row(XSS_NAME)
    row.wait_for(timeout=30_000)
    assert row.locator(".mlops-nb-run-name").inner_text() == XSS_NAME
    panel.select("alpha", XSS_NAME)
    panel.compare()
    panel.wait_for_charts()
    page.locator(".mlops-nb-chip", has_text=XSS_NAME).first.wait_for()
    legend = page.locator(".mlops-nb-curves:visible .legendtext").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert any(text.startswith(XSS_NAME) for text in legend), legend
    row.locator(".mlops-nb-run-name").click()
    page.locator(".mlops-nb-run-title", has_text=XSS_NAME).wait_for(timeout=30_000)
    page.locator(".mlops-nb-lineage").last.wait_for(timeout=30_000)
    panel.screenshot("06-xss-run-as-text")
    injected = page.evaluate(
        "() => Array.from(document.querySelectorAll('img')).filter(i => i.getAttribute('src') === 'x').length"
    )
    assert injected == 0
    assert panel.dialogs == []
