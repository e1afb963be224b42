"""The Monitoring view of a served version in a real JupyterLab: a real pipeline's version 1 served as
champion-dev, an inference log with one shifted feature and fed-back labels, a recorded monitoring pass whose
drift trigger a real scheduler (`scheduler --once`) turned into a retraining run; the view shows the heat map,
the verdicts, the live metric, health, traffic and A/B, and the trigger linked to its retraining run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlops_nb import store
from mlops_nb.monitoring import service, window
from mlops_nb.pipelines import run
from tests.integration import release_standin
from tests.integration.pipeline_project import MODEL_NAME, inside, new_project
from tests.monitoring.logs import write_feedback, write_log
from tests.ui.lab import JupyterLab, MlopsPanel, chromium

pytestmark = pytest.mark.ui
ALIAS = "champion-dev"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    project = new_project(tmp_path_factory.mktemp("monitoring") / "proj")
    root = project.root
    with inside(root):
        project.write_pipeline(
            gates={"model": {"test_accuracy": {"threshold": 0.5, "greater_is_better": True}}}
        )
        version = str(run.run(project.pipeline, run.RunOptions(env="dev", progress=False)).model_version)
        store.writer().set_alias(MODEL_NAME, ALIAS, version)
        rng = np.random.default_rng(3)
        rows = 600
        inputs = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(1, 5)})
        inputs["x1"] += 2.0
        inputs["segment"] = rng.integers(0, 3, size=rows)
        predictions = rng.integers(0, 2, size=rows)
        start = datetime.now(UTC) - timedelta(minutes=40)
        folder = window.log_directory(MODEL_NAME)
        ids = write_log(
            folder, inputs, predictions.astype(float), alias=ALIAS, start=start, spacing=timedelta(seconds=2)
        )
        write_log(
            folder,
            inputs.iloc[:60],
            np.zeros(60),
            version=version,
            alias="challenger",
            variant="ab",
            start=start,
            part=1,
        )
        write_feedback(window.feedback_directory(MODEL_NAME), ids, [int(p) for p in predictions])
        result = service.monitor(MODEL_NAME, ALIAS, last="2h")
        assert result["verdict"] == "drift" and "firing" in result["triggers"][0], result["triggers"]
        env = {**os.environ, release_standin.VARIABLE: str(project.pipeline)}
        subprocess.run(
            [sys.executable, release_standin.__file__, "scheduler", "--once"],
            cwd=root,
            env=env,
            check=True,
            timeout=600,
        )
    server = JupyterLab(root)
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        yield MlopsPanel(page)


def test_the_monitoring_view_of_a_served_version(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.open(lab)
    panel.widen(900)
    panel.section("models")
    version = page.locator(f".mlops-nb-model[data-model='{MODEL_NAME}'] .mlops-nb-version[data-version='1']")
    version.wait_for(timeout=30_000)
    version.locator(".mlops-nb-link").first.click()
    detail = page.locator(".mlops-nb-version-detail[data-version='1']")
    detail.locator(".mlops-nb-show-monitoring").click()
    view = detail.locator(".mlops-nb-monitoring")
    view.wait_for(timeout=30_000)
    assert view.get_attribute("data-verdict") == "drift"
    for chart in ("heatmap", "live", "traffic"):
        page.wait_for_selector(f".mlops-nb-monitoring-{chart} [data-drawn='true']", timeout=60_000)
    assert (
        view.locator(".mlops-nb-monitoring-heatmap .hm, .mlops-nb-monitoring-heatmap .heatmaplayer").count()
        >= 1
    )
    x1 = view.locator(".mlops-nb-monitoring-features tr[data-feature='x1']")
    assert "drift" in x1.inner_text()
    assert "ok" in view.locator(".mlops-nb-monitoring-features tr[data-feature='x2']").inner_text()
    decay = view.locator(".mlops-nb-monitoring-decay").inner_text()
    assert "test_accuracy" in decay and "live 1" in decay
    assert "%" in view.locator("[data-field='ood-rate']").inner_text()
    assert "ms" in view.locator("[data-field='latency']").inner_text()
    arms = view.locator(".mlops-nb-monitoring-ab tbody tr")
    assert arms.count() == 2 and "ab" in view.locator(".mlops-nb-monitoring-ab").inner_text()
    trigger = view.locator(".mlops-nb-monitoring-triggers li[data-trigger='drift']")
    assert "finished" in trigger.inner_text()
    panel.screenshot("monitoring-view", full_page=True)
    trigger.locator(".mlops-nb-retraining-run").click()
    page.locator(".mlops-nb-run-detail[data-run-id]").first.wait_for(timeout=30_000)
