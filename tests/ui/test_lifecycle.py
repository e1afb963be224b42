"""Promotion and scheduling in a real JupyterLab (issue 9): a real pipeline run registers version 1 and the
pipeline is released to staging; the Models section refuses a promotion with its reasons and promotes (the
alias moves); the Releases view shows the release with its smoke test; the notebook toolbar's Schedule button
creates a schedule that the Schedules view lists, and its run (run now, `mlops-nb scheduler --once`) appears."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from mlops_nb import config, store
from mlops_nb.pipelines import release, run
from tests.integration.pipeline_project import (
    MODEL_NAME,
    NOTEBOOK,
    commit,
    inside,
    new_project,
)
from tests.ui.lab import JupyterLab, MlopsPanel, chromium, project_env

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """A committed project whose pipeline (environments staging, prod) ran once (version 1, not promoted) and
    was released to staging."""
    project = new_project(tmp_path_factory.mktemp("lifecycle") / "proj")
    root = project.root
    with inside(root):
        project.write_pipeline(environments={"staging": {}, "prod": {}})
        (root / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
        commit(root)
        run.run(project.pipeline, run.RunOptions(progress=False))
        release.release(project.pipeline, "staging")
    server = JupyterLab(root)
    yield server
    server.stop()


@pytest.fixture
def panel(lab: JupyterLab) -> Iterator[MlopsPanel]:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        yield MlopsPanel(page)


def _aliases(lab: JupyterLab) -> dict[str, str]:
    model = store.client(config.load(lab.project)).get_registered_model(MODEL_NAME)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_promote_from_the_models_section_refused_then_moved(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.open(lab)
    panel.section("models")
    version = page.locator(f".mlops-nb-model[data-model='{MODEL_NAME}'] .mlops-nb-version[data-version='1']")
    version.wait_for(timeout=30_000)
    assert version.locator(".mlops-nb-alias[data-alias='challenger']").count() == 1  # as registered
    assert version.locator(".mlops-nb-alias[data-alias^='champion']").count() == 0
    version.locator(".mlops-nb-link").click()  # the version's gate table and lineage
    detail = page.locator(".mlops-nb-version-detail[data-version='1']")
    detail.locator(".mlops-nb-gate-table tbody tr").first.wait_for(timeout=30_000)
    assert "test_accuracy" in detail.locator(".mlops-nb-gate-table").inner_text()
    panel.screenshot("10-models-version-gates")

    # prod before staging: refused, with the failing gate and its reason
    version.locator(".mlops-nb-promote").click()
    dialog = page.locator(".mlops-nb-dialog")
    dialog.locator(".mlops-nb-env").fill("prod")
    dialog.locator(".mlops-nb-promotion-gates tbody tr").first.wait_for(timeout=60_000)
    confirm = dialog.locator(".mlops-nb-confirm")
    assert confirm.is_disabled()  # no reason yet
    dialog.locator(".mlops-nb-reason").fill("straight to prod")
    confirm.click()
    refusal = dialog.locator(".mlops-nb-refusal")
    refusal.wait_for(timeout=60_000)
    assert "Refused" in refusal.inner_text()
    assert refusal.locator(".mlops-nb-gate-failed").count() >= 1
    assert "champion-prod" not in _aliases(lab)
    panel.screenshot("11-promotion-refused")

    # staging: the gates pass and the alias moves
    dialog.locator(".mlops-nb-env").fill("staging")
    page.wait_for_function(  # the gates for staging, all passing
        """() => document.querySelectorAll('.mlops-nb-dialog .mlops-nb-promotion-gates tbody tr').length > 0
              && document.querySelectorAll('.mlops-nb-dialog .mlops-nb-gate-failed').length === 0""",
        timeout=60_000,
    )
    dialog.locator(".mlops-nb-reason").fill("better than nothing")
    panel.screenshot("12-promote-dialog")
    dialog.locator(".mlops-nb-confirm").click()
    page.locator(".mlops-nb-notice", has_text="champion-staging").wait_for(timeout=60_000)
    version.locator(".mlops-nb-alias[data-alias='champion-staging']").wait_for(timeout=30_000)
    assert _aliases(lab)["champion-staging"] == "1"
    panel.screenshot("13-alias-moved")


def test_a_versions_deploy_check_shows_in_the_models_section(lab: JupyterLab, panel: MlopsPanel) -> None:
    from mlops_nb.serving import deploy_check

    client = store.client(config.load(lab.project))
    store.Writer(client).set_alias(MODEL_NAME, "checked", "1")
    try:  # the fixture's model was logged without an input example: the signature check fails
        report = deploy_check.deploy_check(f"{MODEL_NAME}@checked", calls=10, client=client)
    finally:
        store.Writer(client).delete_alias(MODEL_NAME, "checked")
    page = panel.page
    panel.open(lab)
    panel.section("models")
    version = page.locator(f".mlops-nb-model[data-model='{MODEL_NAME}'] .mlops-nb-version[data-version='1']")
    version.wait_for(timeout=30_000)
    version.locator(".mlops-nb-link").click()
    section = page.locator(".mlops-nb-version-detail[data-version='1'] .mlops-nb-deploy-check")
    section.locator("li[data-check='signature']").wait_for(timeout=30_000)
    assert "failed" in section.inner_text() and not report.passed
    assert "no signature" in section.locator("li[data-check='signature']").inner_text()
    assert section.locator("li").count() == 4
    panel.screenshot("14-deploy-check")


def test_schedule_this_notebook_from_the_toolbar(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.open(lab, lab.tree_url(f"notebooks/{NOTEBOOK.name}"))
    button = page.locator(".jp-NotebookPanel-toolbar [data-jp-item-name='mlops-nb-schedule'] button")
    button.wait_for(timeout=60_000)
    button.click()
    form = page.locator(".mlops-nb-schedule-form")
    form.wait_for(timeout=30_000)
    assert form.locator("select[name='pipeline_file']").input_value() == "pipeline.yaml"
    form.locator("select[name='env']").select_option("staging")
    form.locator("input[name='kind'][value='interval']").check()
    form.locator("input[name='every']").fill("45m")
    panel.screenshot("14-schedule-this-notebook")
    form.locator(".mlops-nb-create-schedule").click()
    page.locator(".mlops-nb-schedule-created").wait_for(timeout=30_000)
    row = page.locator(".mlops-nb-schedule[data-pipeline='fixture']")  # the panel switched to Schedules
    row.wait_for(timeout=30_000)
    assert "every 45m" in row.inner_text() and "staging" in row.inner_text()
    panel.screenshot("15-schedule-listed")

    # its run appears: run now, and a scheduler fires it
    row.locator(".mlops-nb-button", has_text="Run now").click()
    row.locator(".mlops-nb-firing-pending").wait_for(timeout=30_000)
    scheduler = [sys.executable, "-m", "mlops_nb.cli", "scheduler", "--once"]
    subprocess.run(scheduler, cwd=lab.project, env=project_env(lab.project), check=True, timeout=600)
    # The view refreshes by itself. The run ends finished, or failed at its model gate when the first test
    # made version 1 (trained on the same data) champion in staging: either way it is the release's run.
    last = row.locator(".mlops-nb-firing-finished, .mlops-nb-firing-failed")
    last.wait_for(timeout=30_000)
    assert "release staging#1" in last.inner_text()
    assert last.locator(".mlops-nb-link", has_text="run ").count() == 1
    row.locator(".mlops-nb-link", has_text="fixture").click()  # the trigger history
    page.locator(".mlops-nb-firings li").first.wait_for(timeout=30_000)
    panel.screenshot("16-schedule-run")


def test_releases_view_shows_the_smoke_test(lab: JupyterLab, panel: MlopsPanel) -> None:
    page = panel.page
    panel.open(lab)
    panel.section("releases")
    staging = page.locator(".mlops-nb-release-env[data-env='staging'][data-pipeline='fixture']")
    staging.wait_for(timeout=30_000)
    assert "current #1" in staging.inner_text()
    assert staging.locator(".mlops-nb-verdict-pass", has_text="smoke passed").count() == 1
    panel.screenshot("17-releases")
