"""Benchmark 3 of issue 3, in the browser: a 10,000-run experiment (10 params, 10 metrics × 100 steps).

Prints the time for the panel to show the first rows and to draw the compare view of 100 selected runs
(not asserted); asserts that every run is reachable by scrolling and that compare draws all 100 runs.
The store is bulk-built once by benchmarks/bench_api.py and reused (MLOPS_NB_UI_BENCH_DIR).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.lab import OUTPUT, JupyterLab, MlopsPanel, chromium

pytestmark = pytest.mark.ui

N_RUNS = 10_000
N_COMPARE = 100
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_api.py"


def _build_store(root: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_api", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_api)
    bench_api.build(root, N_RUNS)


@pytest.fixture(scope="module")
def lab() -> Iterator[JupyterLab]:
    root = Path(os.environ.get("MLOPS_NB_UI_BENCH_DIR", "/tmp/mlops-nb-ui-bench"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    _build_store(root)
    server = JupyterLab(root)
    yield server
    server.stop()


def test_ten_thousand_runs_scroll_and_compare_100(lab: JupyterLab, capsys: pytest.CaptureFixture) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        panel = MlopsPanel(page)
        panel.open(lab)

        started = time.perf_counter()
        panel.choose_experiment("bench")
        panel.rows().first.wait_for(timeout=120_000)
        first_rows = time.perf_counter() - started
        panel.screenshot("07-10k-runs")

        scroller = page.locator(".mlops-nb-scroller")
        started = time.perf_counter()
        last = page.locator(f".mlops-nb-run-row[data-index='{N_RUNS - 1}']")
        deadline = time.time() + 300
        while last.count() == 0 and time.time() < deadline:
            scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
            page.wait_for_timeout(100)
        to_the_end = time.perf_counter() - started
        assert last.count() == 1, "the last run never showed up while scrolling"
        assert page.locator(".mlops-nb-run-count").inner_text().startswith(f"{N_RUNS:,} of {N_RUNS:,}")
        rendered = page.locator(".mlops-nb-run-row").count()
        assert rendered < 200, f"{rendered} rows in the DOM: the table is not virtualized"
        panel.screenshot("08-10k-runs-end")

        scroller.evaluate("el => { el.scrollTop = 0; }")
        page.locator(".mlops-nb-run-row[data-index='0'] .mlops-nb-select-cell").click()
        scroller.evaluate(f"el => {{ el.scrollTop = {(N_COMPARE - 10) * 26}; }}")
        page.locator(f".mlops-nb-run-row[data-index='{N_COMPARE - 1}'] .mlops-nb-select-cell").click(
            modifiers=["Shift"]
        )
        assert page.locator(".mlops-nb-compare-button").inner_text().strip() == f"Compare {N_COMPARE}"

        started = time.perf_counter()
        panel.compare()
        panel.wait_for_charts(timeout=300_000)
        compare_drawn = time.perf_counter() - started
        assert page.locator(".mlops-nb-curves:visible .scatterlayer .trace").count() == N_COMPARE
        panel.screenshot("09-compare-100-runs")

    report = (
        f"benchmark 3 (browser, {N_RUNS:,} runs): first rows shown {first_rows:.2f} s; "
        f"scrolled to the last run {to_the_end:.2f} s; "
        f"compare of {N_COMPARE} runs drawn {compare_drawn:.2f} s"
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "benchmark.txt").write_text(report + "\n")
    with capsys.disabled():
        print("\n" + report)
