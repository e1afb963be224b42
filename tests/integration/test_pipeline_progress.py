"""Progress and summaries as a CI log or `| tee` sees them: no carriage-return redraws without a terminal,
one line per step or point, and sweep points printed with their typed values."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from mlops_nb.pipelines import run
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)


def _cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """`mlops-nb ARGS` with stdout and stderr to pipes, as in CI."""
    return subprocess.run(
        [sys.executable, "-m", "mlops_nb.cli", *args],
        cwd=project.root,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_run_without_a_terminal_prints_one_line_per_step(project: Project) -> None:
    done = _cli(project, "run", str(project.pipeline))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\r" not in done.stdout + done.stderr
    steps = [line for line in done.stderr.splitlines() if re.match(r"\[\d/\d\] ", line)]
    assert steps == [
        f"[{i}/{len(run.STEPS)}] {step.name}  finished" for i, step in enumerate(run.STEPS, start=1)
    ], done.stderr


def test_a_sweep_without_a_terminal_prints_one_line_per_point_and_typed_values(project: Project) -> None:
    done = _cli(
        project, "sweep", str(project.pipeline), "--grid", "C=0.125,1", "max_iter=50", "--workers", "2"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\r" not in done.stdout + done.stderr
    points = [line for line in done.stderr.splitlines() if line.startswith("sweep fixture:")]
    assert [re.sub(r"point \d", "point N", line) for line in points] == [
        "sweep fixture: point N finished (1/2)",
        "sweep fixture: point N finished (2/2)",
    ], done.stderr
    assert '{"C": 0.125, "max_iter": 50}' in done.stdout, done.stdout
    assert '{"C": 1.0, "max_iter": 50}' in done.stdout, done.stdout
