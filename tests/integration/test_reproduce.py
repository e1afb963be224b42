"""`mlops-nb reproduce`: a registered model's pipeline run again from its record alone. Real git repository, real
SQLite store, real pipeline runs (papermill kernels); one trained model shared by the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mlops_nb import cli, records, store
from mlops_nb.exceptions import ReproductionRefusedError
from mlops_nb.pipelines import reference, run
from mlops_nb.pipelines.reproduce import ReproduceOptions, reproduce
from mlops_nb.registry import audit
from mlops_nb.registry.register import register
from tests.integration.pipeline_project import (
    MODEL_NAME,
    Project,
    commit,
    git,
    inside,
    new_project,
)


@dataclass
class Trained:
    """The module's project, committed to git, and the pipeline run that registered version 1."""

    project: Project
    run_id: str
    version: str
    commit: str


@pytest.fixture(name="trained", scope="module")
def trained_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    project = new_project(tmp_path_factory.mktemp("reproduce") / "proj")
    root = project.root
    (root / ".gitignore").write_text(".mlops/\ndownloads/\n", encoding="utf-8")
    project.write_pipeline()
    head = commit(root, "fixture project")
    with inside(root):
        result = run.run(project.pipeline, run.RunOptions(progress=False))
        yield Trained(project, result.run_id, str(result.model_version), head)


def _reproduce_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | None, str]:
    code = cli.main(["reproduce", *args, "--json", "--no-progress"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_a_pipeline_model_reproduces_exactly_from_its_source_and_links_both_ways(
    trained: Trained, tmp_path: Path, capsys
) -> None:
    client = store.client()
    code, report, err = _reproduce_cli(capsys, MODEL_NAME, "--version", trained.version, "--data", "source")

    assert code == 0, err
    assert report["verdict"] == records.VERDICT_REPRODUCED
    assert report["data"]["kind"] == "source" and report["data"]["change"] is None
    assert report["record"]["commit"] == trained.commit and report["record"]["dirty"] is False
    metrics = {m["metric"]: m for m in report["metrics"]}
    assert "test_accuracy" in metrics
    assert all(m["difference"] == 0.0 and m["match"] for m in metrics.values())
    assert report["seeds"]["test_split.seed"] == 3

    reproduction = client.get_run(report["run_id"])
    assert reproduction.data.tags[records.TAG_REPRODUCTION_OF] == trained.run_id
    assert reproduction.data.tags[records.TAG_REPRODUCE_VERDICT] == records.VERDICT_REPRODUCED
    assert reproduction.data.tags[records.TAG_PIPELINE_KIND] == records.PIPELINE_KIND_REPRODUCTION
    original = client.get_run(trained.run_id)
    assert original.data.tags[records.TAG_REPRODUCED_BY] == report["run_id"]
    version = client.get_model_version(MODEL_NAME, trained.version)
    assert version.tags[records.TAG_REPRODUCE_VERDICT] == records.VERDICT_REPRODUCED
    assert version.tags[records.TAG_REPRODUCE_RUN] == report["run_id"]
    # the code ran from the recorded commit, the registry is untouched, and the next pipeline run's
    # "previous run" (watermark, data gate reference) is still the original
    training = reference.pipeline_step(report["run_id"], records.STEP_TRAINING, client=client)
    assert training.data.tags[records.SOURCE_GIT_COMMIT] == trained.commit
    assert training.data.tags[records.TAG_NOTEBOOK_HASH] == version.tags[records.TAG_NOTEBOOK_HASH]
    assert [str(v.version) for v in client.search_model_versions(f"name = '{MODEL_NAME}'")] == [
        trained.version
    ]
    previous = reference.previous_runs(client, original.info.experiment_id, "fixture", 5)
    assert [r.info.run_id for r in previous] == [trained.run_id]
    assert git(trained.project.root, "worktree", "list").count("\n") == 0  # the temporary worktree is gone
    page = audit.write_report(MODEL_NAME, trained.version, tmp_path / "audit.html").read_text(
        encoding="utf-8"
    )
    section = page.split("<h2>Reproduction</h2>")[1].split("<h2>")[0]
    assert report["run_id"] in section and ">reproduced<" in section and "test_accuracy" in section


def test_a_changed_value_in_the_source_is_refused_and_the_snapshot_still_reproduces(
    trained: Trained, capsys
) -> None:
    data = trained.project.data
    kept = data.read_bytes()
    frame = pd.read_csv(data)
    before = float(frame.loc[7, "x1"])
    frame.loc[7, "x1"] = 9.5
    frame.to_csv(data, index=False)
    try:
        code, report, err = _reproduce_cli(
            capsys, MODEL_NAME, "--version", trained.version, "--data", "source"
        )
        assert code == 2 and report is None
        assert f"The data source {data} changed since pipeline run {trained.run_id} read it" in err
        assert "400 rows then, 400 now: 1 row changed" in err
        assert f"x1: {before!r} -> 9.5" in err
        assert "--allow-data-change" in err

        # by the pipeline run's id this time: its version is found and tagged too
        code, report, err = _reproduce_cli(capsys, "--run", trained.run_id)
    finally:
        data.write_bytes(kept)

    assert code == 0, err
    assert report["data"]["kind"] == "snapshot"
    assert all(m["difference"] == 0.0 for m in report["metrics"])
    client = store.client()
    reproduction = client.get_run(report["run_id"])
    assert reproduction.data.tags[records.TAG_REPRODUCTION_DATA].startswith("snapshot runs:/")
    assert (
        reproduction.data.tags[records.TAG_DATA_DIGEST]
        == client.get_run(trained.run_id).data.tags[records.TAG_DATA_DIGEST]
    )
    version = client.get_model_version(MODEL_NAME, trained.version)
    assert version.tags[records.TAG_REPRODUCE_RUN] == report["run_id"]


def test_a_model_trained_from_a_dirty_tree_reproduces_through_the_recorded_diff(trained: Trained) -> None:
    project = trained.project
    nb = nbformat.read(project.notebook, as_version=4)
    training_cell = next(c for c in nb.cells if "LogisticRegression(C=C" in c.source)
    training_cell.source = training_cell.source.replace(
        "LogisticRegression(C=C", "LogisticRegression(C=C * 0.5"
    )
    nbformat.write(nb, project.notebook)
    try:
        dirty = run.run(project.pipeline, run.RunOptions(progress=False))
    finally:
        git(project.root, "checkout", "--", "notebooks")  # the working copy no longer has the change
    client = store.client()
    trained_dirty = client.get_run(dirty.training_run_id)
    assert trained_dirty.data.tags[records.TAG_GIT_DIRTY] == "true"

    found = reproduce(MODEL_NAME, dirty.model_version, options=ReproduceOptions(progress=False))

    assert found.matched, found.reason
    assert found.record.diff and "C=C * 0.5" in found.record.diff
    assert [m["difference"] for m in found.metrics] == [0.0] * len(found.metrics)
    training = reference.pipeline_step(found.run_id, records.STEP_TRAINING, client=client)
    assert training.data.tags[records.TAG_NOTEBOOK_HASH] == trained_dirty.data.tags[records.TAG_NOTEBOOK_HASH]
    assert training.data.tags[records.TAG_GIT_DIRTY] == "true"  # the diff applied on the recorded commit


def test_a_missing_commit_is_a_clear_error(trained: Trained, tmp_path: Path, capsys) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "file.txt").write_text("a commit that never reached this repository\n", encoding="utf-8")
    git(elsewhere, "init", "-q")
    git(elsewhere, "add", "-A")
    git(elsewhere, "commit", "-q", "-m", "elsewhere")
    missing = git(elsewhere, "rev-parse", "HEAD")
    client = store.client()
    training_run = client.get_model_version(MODEL_NAME, trained.version).run_id
    version = register(
        training_run, f"runs:/{training_run}/model", MODEL_NAME, tags={records.SOURCE_GIT_COMMIT: missing}
    ).version
    runs_before = len(client.search_runs([client.get_run(trained.run_id).info.experiment_id]))

    code, _, err = _reproduce_cli(capsys, MODEL_NAME, "--version", str(version))

    assert code == 2
    assert (
        f"Commit {missing} recorded by version {version} of {MODEL_NAME} is not in the repository "
        f"{trained.project.root.resolve()}" in err
    )
    assert "git fetch" in err
    assert len(client.search_runs([client.get_run(trained.run_id).info.experiment_id])) == runs_before


def test_strict_env_refuses_when_the_installed_packages_differ(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "site" / "mlops_nb_reproduce_probe-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlops-nb-reproduce-probe\nVersion: 1.0\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(dist.parent))  # a package installed since the model was trained

    with pytest.raises(ReproductionRefusedError, match=r"mlops-nb-reproduce-probe \(absent\) -> 1.0"):
        reproduce(MODEL_NAME, trained.version, options=ReproduceOptions(strict_env=True, progress=False))
