"""Sweeps: one pipeline run per grid point, in parallel on local processes or a Dask LocalCluster."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from mlops_nb import cli, records
from mlops_nb.exceptions import UsageError
from mlops_nb.pipelines import sweep
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (the fixture)


def _children(project: Project, run_id: str) -> list:
    experiment = project.client.get_run(run_id).info.experiment_id
    return project.client.search_runs(
        [experiment], f"tags.`{records.PARENT_RUN_ID}` = '{run_id}'", order_by=["attributes.start_time ASC"]
    )


def test_sweep_on_two_local_workers_registers_only_the_best(project: Project, capsys) -> None:
    caches_before = set(Path(tempfile.gettempdir()).glob("mlops-nb-requirements-*"))
    code = cli.main(
        [
            "sweep",
            str(project.pipeline),
            "--grid",
            "C=0.01,1.0",
            "max_iter=20,200",
            "--workers",
            "2",
            "--json",
            "--no-progress",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0, summary["error"]
    assert summary["status"] == "FINISHED"
    assert len(summary["points"]) == 4
    assert {json.dumps(p["parameters"], sort_keys=True) for p in summary["points"]} == {
        json.dumps({"C": c, "max_iter": m}, sort_keys=True) for c in (0.01, 1.0) for m in (20, 200)
    }
    metrics = [p["metric"] for p in summary["points"]]
    assert summary["best"]["metric"] == max(metrics)

    sweep_run = project.client.get_run(summary["run_id"])
    assert sweep_run.info.status == "FINISHED"
    assert sweep_run.data.tags[records.TAG_PIPELINE_KIND] == records.PIPELINE_KIND_SWEEP
    pipelines = _children(project, summary["run_id"])
    assert len(pipelines) == 4
    assert all(r.info.status == "FINISHED" for r in pipelines)
    assert all(r.data.tags[records.TAG_SWEEP_RUN] == summary["run_id"] for r in pipelines)
    assert sweep_run.info.run_name == "fixture sweep C×max_iter (4 points)"
    # the code version, as on `mlops-nb run`: the sweep, each point and each step ran the working copy
    assert sweep_run.data.tags[records.TAG_RELEASE] == records.RELEASE_WORKING_COPY
    assert sweep_run.data.tags[records.TAG_NOTEBOOK_HASH]
    steps = [step for r in pipelines for step in _children(project, r.info.run_id)]
    assert all(r.data.tags.get(records.TAG_NOTEBOOK_HASH) for r in steps)  # the deferred registration too
    assert {r.data.tags.get(records.TAG_RELEASE) for r in [*pipelines, *steps]} == {
        records.RELEASE_WORKING_COPY
    }
    assert {r.info.run_name for r in pipelines} == {  # each point named by its parameters
        f"fixture C={c} max_iter={m}" for c in (0.01, 1.0) for m in (20, 200)
    }
    best = [r for r in pipelines if r.data.tags.get(records.TAG_SWEEP_BEST) == "true"]
    assert [r.info.run_id for r in best] == [summary["best"]["run_id"]]
    registration = {r.info.run_id: r.data.tags[records.TAG_PIPELINE_REGISTRATION] for r in pipelines}
    assert sorted(registration.values()) == ["deferred", "deferred", "deferred", "registered"]
    assert registration[summary["best"]["run_id"]] == "registered"
    for pipeline in pipelines:  # each point is a full pipeline run with its own steps
        steps = {r.data.tags[records.TAG_PIPELINE_STEP] for r in _children(project, pipeline.info.run_id)}
        expected = {"ingestion", "data_validation", "training", "evaluation", "model_validation"}
        if pipeline.info.run_id == summary["best"]["run_id"]:
            expected.add("registration")
        assert steps == expected

    versions = project.client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert len(versions) == 1
    assert versions[0].tags[records.TAG_PIPELINE_RUN] == summary["best"]["run_id"]
    assert versions[0].tags[records.gate_tag("model")] == "passed"  # the deferred registration keeps it

    assert not set(Path(tempfile.gettempdir()).glob("mlops-nb-requirements-*")) - caches_before


def test_sweep_on_a_dask_local_cluster(project: Project) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        result = sweep.sweep(
            project.pipeline,
            sweep.SweepOptions(
                grid={"C": ["0.1", "1.0"]},
                executor=f"dask://{address}",
                register_all=True,
                progress=False,
            ),
        )
    assert result.status == "FINISHED"
    assert result.executor.startswith("dask://")
    assert [p.status for p in result.points] == ["FINISHED", "FINISHED"]
    versions = project.client.search_model_versions(f"name = '{MODEL_NAME}'")
    registered = sorted(v.tags[records.TAG_PIPELINE_RUN] for v in versions)
    assert registered == sorted(p.run_id for p in result.points), json.dumps(
        [(v.version, v.run_id, v.tags) for v in versions] + [result.to_dict()], default=str
    )
    assert len(_children(project, result.run_id)) == 2


def test_every_point_reads_the_same_rows_after_the_watermark(project: Project) -> None:
    import pandas as pd

    frame = pd.read_csv(project.data)
    frame.assign(day=1).to_csv(project.data, index=False)
    project.write_pipeline(
        data={"source": str(project.data), "watermark": "day", "test_split": {"fraction": 0.25, "seed": 3}}
    )
    result = sweep.sweep(
        project.pipeline, sweep.SweepOptions(grid={"C": ["0.1", "1.0"]}, workers=1, progress=False)
    )
    assert [p.status for p in result.points] == ["FINISHED", "FINISHED"], result.error
    rows = [
        project.steps(p.run_id or "")["ingestion"].data.tags[records.TAG_DATA_ROWS] for p in result.points
    ]
    assert rows == ["400", "400"]  # the second point did not start from the first one's watermark


def test_register_all_leaves_the_challenger_alias_on_the_best_point(project: Project) -> None:
    result = sweep.sweep(
        project.pipeline,
        sweep.SweepOptions(grid={"C": ["0.003", "1.0"]}, workers=1, register_all=True, progress=False),
    )
    assert [p.status for p in result.points] == ["FINISHED", "FINISHED"], result.error
    assert [p.model_version for p in result.points] == ["1", "2"]  # in the order the points finished
    assert result.best is not None
    assert result.best.index == 0  # the stronger regularization wins on this data
    challenger = project.client.get_model_version_by_alias(MODEL_NAME, "challenger")
    assert str(challenger.version) == result.model_version == result.best.model_version == "1"


def test_bad_sweep_options_are_errors_before_anything_runs(project: Project) -> None:
    with pytest.raises(UsageError, match="--workers must be at least 1"):
        sweep.sweep(project.pipeline, sweep.SweepOptions(grid={"C": ["0.1"]}, workers=0, progress=False))
    with pytest.raises(UsageError, match=r"Unknown parameter\(s\) depth \(--grid/-p\)"):
        sweep.sweep(project.pipeline, sweep.SweepOptions(grid={"depth": ["3"]}, progress=False))
    assert project.client.search_runs([e.experiment_id for e in project.client.search_experiments()]) == []


def test_sigterm_stops_a_sweep_at_once_and_marks_its_runs_killed(project: Project) -> None:
    from tests.integration.pipeline_project import terminate_when_training

    args = ["sweep", str(project.pipeline), "--grid", "C=0.1,1.0", "-p", "mode=hang", "--workers", "2"]
    assert terminate_when_training(project, [*args, "--no-progress"], trainings=2) == 130
    runs = project.client.search_runs([e.experiment_id for e in project.client.search_experiments()])
    assert len(runs) == 1 + 2 * 4  # the sweep, and per point its pipeline run, ingestion, gate, training
    assert {r.info.status for r in runs if r.info.status not in {"FINISHED"}} == {"KILLED"}
    assert all(
        r.info.status == "KILLED" for r in runs if r.data.tags.get(records.TAG_PIPELINE_STEP) == "training"
    )


def test_an_interrupted_dask_sweep_stops_the_points_running_on_the_cluster(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import select
    import signal
    import threading

    import nbformat
    from distributed import LocalCluster

    fifo = tmp_path / "kernel-pid"
    os.mkfifo(fifo)
    monkeypatch.setenv("KERNEL_PID_FIFO", str(fifo))
    nb = nbformat.read(project.notebook, as_version=4)
    hang = next(i for i, c in enumerate(nb.cells) if 'mode == "hang"' in c.source)
    tell = (
        "import os\nwith open(os.environ['KERNEL_PID_FIFO'], 'w') as fifo:\n    fifo.write(str(os.getpid()))"
    )
    nb.cells.insert(hang, nbformat.v4.new_code_cell(tell))
    nbformat.write(nb, project.notebook)
    pids: list[int] = []

    def interrupt_once_the_kernel_runs() -> None:
        pids.append(int(fifo.read_text()))  # blocks until the point's kernel reaches the hanging cell
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C

    threading.Thread(target=interrupt_once_the_kernel_runs, daemon=True).start()
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        options = sweep.SweepOptions(
            grid={"C": ["0.1"]}, parameters={"mode": "hang"}, executor=f"dask://{address}", progress=False
        )
        with pytest.raises(KeyboardInterrupt):
            sweep.sweep(project.pipeline, options)
        try:
            kernel = os.pidfd_open(pids[0])
        except ProcessLookupError:  # already gone
            ended = [True]
        else:
            try:
                ended, _, _ = select.select([kernel], [], [], 30)  # the kernel exits, or 30 s pass
            finally:
                os.close(kernel)
        assert ended, f"the point's kernel (pid {pids[0]}) still runs after the sweep was interrupted"
    runs = project.client.search_runs([e.experiment_id for e in project.client.search_experiments()])
    assert {r.info.status for r in runs} == {"KILLED", "FINISHED"}  # finished: ingestion and its gate
    training = [r for r in runs if r.data.tags.get(records.TAG_PIPELINE_STEP) == "training"]
    assert [r.info.status for r in training] == ["KILLED"]
