"""Datasets and Reproduce in a real JupyterLab (issue 12): a real `mlops-nb data add`, a real pipeline run
reading that dataset (model version 1); the Datasets view shows the dataset's versions, one version's schema
and the model version trained on it; "Reproduce" on the model version runs a real reproduction on the server,
shows its progress and ends in the verdict with the recorded-vs-reproduced metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlops_nb import cli, config, records, store
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import (
    MODEL_NAME,
    commit,
    inside,
    make_data,
    new_project,
)
from tests.ui.lab import JupyterLab, MlopsPanel, chromium

pytestmark = pytest.mark.ui

DATASET = "customers"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """A committed project whose pipeline read dataset version 1 (model version 1); version 2 is newer data."""
    project = new_project(tmp_path_factory.mktemp("datasets-ui") / "proj")
    root = project.root
    (root / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
    with inside(root):
        assert cli.main(["data", "add", DATASET, str(project.data), "--description", "first extract"]) == 0
        project.write_pipeline(
            data={"dataset": DATASET, "version": "latest", "test_split": {"fraction": 0.25, "seed": 3}}
        )
        commit(root)
        run.run(project.pipeline, run.RunOptions(progress=False))
        assert cli.main(["data", "add", DATASET, str(make_data(root / "newer.csv", rows=150, seed=4))]) == 0
    server = JupyterLab(root)
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        yield MlopsPanel(page)


def test_datasets_view_then_reproduce_a_model_version_to_its_verdict(
    lab: JupyterLab, panel: MlopsPanel
) -> None:
    page = panel.page
    panel.open(lab)
    panel.section("datasets")
    card = page.locator(f".mlops-nb-dataset[data-dataset='{DATASET}']")
    card.wait_for(timeout=30_000)
    rows = card.locator(".mlops-nb-dataset-version")
    assert [rows.nth(i).get_attribute("data-version") for i in range(rows.count())] == ["2", "1"]
    first = card.locator(".mlops-nb-dataset-version[data-version='1']")
    assert "400" in first.inner_text() and f"{MODEL_NAME} v1" in first.inner_text()
    assert "150" in card.locator(".mlops-nb-dataset-version[data-version='2']").inner_text()
    first.locator(".mlops-nb-link").click()
    detail = card.locator(".mlops-nb-dataset-detail[data-version='1']")
    detail.locator(".mlops-nb-dataset-schema tbody tr").first.wait_for(timeout=30_000)
    schema = detail.locator(".mlops-nb-dataset-schema tbody tr")
    assert [schema.nth(i).get_attribute("data-column") for i in range(schema.count())] == [
        "x1",
        "x2",
        "x3",
        "x4",
        "segment",
        "label",
    ]
    assert "first extract" in detail.inner_text()
    detail.locator("details summary").click()  # the per-column statistics
    panel.screenshot("20-datasets-versions-schema")

    panel.section("models")
    version = page.locator(f".mlops-nb-model[data-model='{MODEL_NAME}'] .mlops-nb-version[data-version='1']")
    version.wait_for(timeout=30_000)
    version.locator(".mlops-nb-link").click()
    box = page.locator(".mlops-nb-version-detail[data-version='1'] .mlops-nb-reproduce")
    box.locator(".mlops-nb-reproduce-button").click()
    progress = box.locator(".mlops-nb-reproduce-progress")
    progress.wait_for(timeout=30_000)
    assert box.locator(".mlops-nb-reproduce-button").is_disabled()
    panel.screenshot("21-reproduce-running")

    verdict = box.locator(".mlops-nb-reproduce-verdict")
    verdict.wait_for(timeout=300_000)
    assert verdict.get_attribute("data-verdict") == records.VERDICT_REPRODUCED, verdict.inner_text()
    metric = verdict.locator(".mlops-nb-reproduce-metrics tr[data-metric='test_accuracy']")
    assert "match" in metric.inner_text()
    # the verdict tagged on the version shows once the job has ended
    page.locator(".mlops-nb-last-reproduction", has_text=records.VERDICT_REPRODUCED).wait_for(timeout=30_000)
    panel.screenshot("22-reproduce-verdict")
    tags = store.client(config.load(lab.project)).get_model_version(MODEL_NAME, "1").tags
    assert tags[records.TAG_REPRODUCE_VERDICT] == records.VERDICT_REPRODUCED
