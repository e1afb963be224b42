"""`%mlops compare` drawn in a real JupyterLab in Chromium: bars on the pipeline's metric, parallel coordinates and
a labelled scatter, a one-line-per-run table whose "differences only" toggle shows the params every run shares."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.helpers import make_notebook
from tests.integration import compare_project
from tests.ui.lab import JupyterLab, MlopsPanel, chromium


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("widget") / "proj"
    compare_project.seed(root, interactive=4, pipelines=2)
    make_notebook(root / "compare.ipynb", ["%load_ext mlops_nb", "%mlops compare --last 5"])
    server = JupyterLab(root)
    yield server
    server.stop()


def _run_all(page: Page, table: Locator) -> None:
    """Run every cell until the widget's table shows, accepting JupyterLab's kernel dialog when it comes."""
    select = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if select.is_visible():
            select.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            table.wait_for(timeout=20_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")  # a menu left open by the dialog
    raise AssertionError("the compare widget did not show within 180 s")


def test_widget_differences_only(lab: JupyterLab) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        panel = MlopsPanel(page)
        page.goto(lab.tree_url("compare.ipynb"))
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
        page.locator(".jp-Notebook").first.wait_for(timeout=90_000)
        table = page.locator(".mlops-cmp")
        _run_all(page, table)
        page.locator(".js-plotly-plot .barlayer").first.wait_for(timeout=60_000)
        page.locator(".js-plotly-plot .parcoords").first.wait_for(timeout=60_000)

        headers = table.locator("th").all_inner_texts()
        assert "alpha" in headers and "test_accuracy" in headers
        assert "seed" not in headers  # the same in every run: hidden while "differences only" is on
        assert not any("sgdclassifier" in h for h in headers)
        assert table.locator("tbody tr").count() == 5
        assert "<img src=x onerror=alert(1)>" in table.inner_text()  # the hostile name, shown as text
        assert page.locator(".mlops-cmp img").count() == 0
        assert (
            "test_accuracy per run" in page.locator(".js-plotly-plot .gtitle").all_text_contents()
        )  # svg text
        panel.screenshot("20-widget-differences-only", full_page=True)

        page.locator(".widget-checkbox input[type='checkbox']").first.uncheck()
        page.locator(".mlops-cmp th", has_text="seed").wait_for(timeout=30_000)
        assert "test_size" in page.locator(".mlops-cmp th").all_inner_texts()
        panel.screenshot("21-widget-all-params", full_page=True)
