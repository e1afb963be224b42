"""Several kernels and processes on one embedded store: no "database is locked", no schema race, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlops_nb import store
from tests.helpers import make_notebook, papermill

WORKER = """
import sys
import mlops_nb
mlops_nb.track(experiment="parallel", run_name=sys.argv[1], autolog=False)
for i in range(500):
    mlops_nb.log_metrics({"a": i, "b": -i}, step=i)
mlops_nb.stop()
"""


def test_eight_processes_on_a_fresh_store(project: Path) -> None:
    assert not (project / ".mlops").exists()
    script = project / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), f"p{i}"], cwd=project, stderr=subprocess.PIPE, text=True
        )
        for i in range(8)
    ]
    errors = [(p.wait(timeout=300), p.stderr.read()) for p in procs if p.stderr]
    assert [code for code, _ in errors] == [0] * 8, "\n".join(err[-2000:] for _, err in errors)
    client = store.client()
    runs = client.search_runs([client.get_experiment_by_name("parallel").experiment_id])
    assert len(runs) == 8
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "a")) == 500


def test_two_kernels_logging_at_once(project: Path) -> None:
    nb = make_notebook(
        project / "log.ipynb",
        [
            "%load_ext mlops_nb",
            "%mlops track --experiment two --no-autolog",
            "import mlops_nb\nfor i in range(2000):\n    mlops_nb.log_metrics({'x': i}, step=i)",
            "%mlops stop",
        ],
        parameters="name = 'a'",
    )
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: papermill(nb, project / f"out-{n}.ipynb", params={"name": n}), ["a", "b"]))
    client = store.client()
    runs = client.search_runs([client.get_experiment_by_name("two").experiment_id])
    assert sorted(r.data.params["name"] for r in runs) == ["a", "b"]
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "x")) == 2000
