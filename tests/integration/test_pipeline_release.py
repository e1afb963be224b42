"""Releases (`mlops-nb release`): smoke-tested, numbered per environment, ordered, rolled back, and what scheduled
runs execute; `mlops-nb ci init`. Real SQLite store, real kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from mlops_nb import cli, records, store
from mlops_nb.capture.code import notebook_hash, read_notebook
from mlops_nb.exceptions import ConfigError, ReleaseRefusedError
from mlops_nb.pipelines import release, run, spec
from tests.integration.pipeline_project import Project, project_fixture  # noqa: F401 (the fixture)

ENVIRONMENTS = {"staging": {"experiment": "fixture-staging"}, "prod": {"experiment": "fixture-prod"}}


@pytest.fixture(name="released")
def released_fixture(project: Project) -> Project:
    """The project with staging and prod environments."""
    project.write_pipeline(environments=ENVIRONMENTS)
    return project


def _break_notebook(project: Project) -> None:
    """Make every run of the working copy fail in its training cell."""
    nb = nbformat.read(project.notebook, as_version=4)
    nb.cells[5].source = 'raise RuntimeError("the working copy is broken")'
    nbformat.write(nb, project.notebook)


def _release_cli(project: Project, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, object, str]:
    code = cli.main(["release", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_a_failing_smoke_test_refuses_the_release_and_keeps_the_previous_one(
    released: Project, capsys
) -> None:
    code, first, _ = _release_cli(released, capsys, str(released.pipeline), "--to", "staging")
    assert code == 0
    assert (first["number"], first["smoke_passed"], first["tag_value"]) == (1, True, "staging#1")
    _break_notebook(released)

    code, refused, err = _release_cli(released, capsys, str(released.pipeline), "--to", "staging")

    assert code == 1
    assert "smoke test failed" in err and "the working copy is broken" in err
    assert "staging#1 stays current" in err
    assert (refused["number"], refused["smoke_passed"]) == (2, False)
    assert released.client.get_run(refused["run_id"]).info.status == "FAILED"
    assert release.current("fixture", "staging").number == 1
    statuses = release.render(release.releases("fixture", "staging"))
    assert "staging#1  current" in statuses and "staging#2  refused" in statuses


def test_prod_needs_the_same_content_in_staging_unless_forced_and_rollback_restores(
    released: Project, capsys
) -> None:
    with pytest.raises(ReleaseRefusedError, match="has not been released to staging first"):
        release.release(released.pipeline, "prod")
    assert release.releases("fixture") == []  # refused before anything was recorded
    assert release.release(released.pipeline, "staging").number == 1
    assert release.release(released.pipeline, "prod").tag_value == "prod#1"  # the same content was in staging

    nb = nbformat.read(released.notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("a change that staging has not seen"))
    nbformat.write(nb, released.notebook)
    assert cli.main(["release", str(released.pipeline), "--to", "prod"]) == 1  # refused
    assert "has not been released to staging first" in capsys.readouterr().err
    assert cli.main(["release", str(released.pipeline), "--to", "prod", "--force"]) == 2  # no reason
    assert "--force needs --reason" in capsys.readouterr().err

    code, forced, _ = _release_cli(
        released, capsys, str(released.pipeline), "--to", "prod", "--force", "--reason", "hotfix INC-7"
    )
    assert code == 0
    assert (forced["number"], forced["forced_reason"]) == (2, "hotfix INC-7")
    tags = released.client.get_run(forced["run_id"]).data.tags
    assert tags[records.TAG_RELEASE_FORCED] == "hotfix INC-7"
    assert tags[records.TAG_NOTEBOOK_HASH] == notebook_hash(read_notebook(released.notebook))

    code, listed, _ = _release_cli(released, capsys, "list", str(released.pipeline))
    assert [(r["env"], r["number"]) for r in listed] == [("prod", 1), ("prod", 2), ("staging", 1)]
    code, back, _ = _release_cli(
        released, capsys, "rollback", "fixture", "--env", "prod", "--reason", "bad model"
    )
    assert (code, back["number"]) == (0, 1)
    assert release.current("fixture", "prod").number == 1
    code, shown, _ = _release_cli(released, capsys, "show", "fixture", "--env", "prod", "--number", "2")
    rolled = json.loads(shown["rolled_back"])
    assert (rolled["reason"], rolled["to"]) == ("bad model", 1) and rolled["by"]
    code, shown, _ = _release_cli(released, capsys, "show", "fixture", "--env", "prod")
    assert shown["number"] == 1
    assert cli.main(["release", "rollback", "fixture", "--env", "prod"]) == 2  # nothing earlier than #1
    assert "nothing to roll back to" in capsys.readouterr().err


def test_scheduled_runs_execute_the_release_not_the_edited_working_copy(
    released: Project, tmp_path: Path
) -> None:
    released.write_pipeline(  # relative paths: the materialized file must still find the project's data
        environments=ENVIRONMENTS,
        notebook="notebooks/classifier.ipynb",
        data={"source": "data.csv", "test_split": {"fraction": 0.25, "seed": 3}},
    )
    made = release.release(released.pipeline, "staging")
    _break_notebook(released)  # after the release: the schedule must not notice
    released.pipeline.unlink()  # nor need the working copy's pipeline file

    pinned = release.materialize(release.current("fixture", "staging"), tmp_path / "materialized")
    assert sorted(p.name for p in pinned.parent.iterdir()) == ["classifier.ipynb", "pipeline.yaml"]
    options = run.RunOptions(env="staging", progress=False, extra_tags={records.TAG_RELEASE: made.tag_value})
    result = run.run(pinned, options)

    assert result.status == "FINISHED", result.error
    pipeline_run = released.client.get_run(result.run_id)
    assert pipeline_run.data.tags[records.TAG_RELEASE] == "staging#1"
    training = released.client.get_run(result.training_run_id)
    assert training.data.tags[records.TAG_NOTEBOOK_HASH] == made.notebook_hash
    assert made.notebook_hash != notebook_hash(read_notebook(released.notebook))  # the working copy is broken


def test_an_ad_hoc_run_of_the_working_copy_is_tagged_as_such(released: Project, capsys) -> None:
    _break_notebook(released)  # fails fast in training: the tag is on the pipeline run from its start
    assert cli.main(["run", str(released.pipeline), "--env", "staging", "--no-progress", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    tags = released.client.get_run(result["run_id"]).data.tags
    assert tags[records.TAG_RELEASE] == records.RELEASE_WORKING_COPY


def _concurrently(released: Project, scripts: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            args,
            cwd=released.root,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in scripts
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    return [
        subprocess.CompletedProcess(p.args, p.returncode, out, err)
        for p, (out, err) in zip(processes, outputs, strict=True)
    ]


def test_two_concurrent_release_processes_get_distinct_numbers(released: Project) -> None:
    command = [
        sys.executable,
        "-m",
        "mlops_nb.cli",
        "release",
        str(released.pipeline),
        "--to",
        "staging",
        "--json",
    ]
    done = _concurrently(released, [command, command])
    assert all(d.returncode == 0 for d in done), [d.stderr[-2000:] for d in done]
    assert sorted(json.loads(d.stdout)["number"] for d in done) == [1, 2]


_CLAIMS = """
import contextlib
import sys
from pathlib import Path
from mlops_nb import records, store
from mlops_nb.pipelines import release
content = release._Content("fixture", "pipeline.yaml", "name: fixture", "nb.ipynb", b"{}", Path("."))
tags = {records.TAG_RELEASE_PIPELINE: "fixture", records.TAG_RELEASE_ENV: "staging"}
settings = store.ensure_store()
if sys.argv[1] == "no-lock":  # as on a tracking server: the claims alone must keep numbers distinct
    release.store.file_lock = lambda path: contextlib.nullcontext()
release.releases("fixture", "staging", settings)  # warm: imports done before the start signal
print("ready", flush=True)
sys.stdin.readline()  # all processes start claiming at once
print(*(release._claim(content, "staging", tags, settings)[1] for _ in range(15)))
"""


@pytest.mark.parametrize("lock", ["lock", "no-lock"])
def test_number_claims_from_many_processes_never_collide(released: Project, lock: str) -> None:
    store.ensure_store()  # the store exists before the processes race
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMS, lock],
            cwd=released.root,
            env=os.environ.copy(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()[-2000:]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    done = [process.communicate(timeout=300) for process in processes]
    assert all(p.returncode == 0 for p in processes), [err[-2000:] for _, err in done]
    printed = [int(n) for out, _ in done for n in out.split()]
    stored = [r.number for r in release.releases("fixture", "staging")]
    assert sorted(printed) == sorted(stored)
    assert len(set(stored)) == len(stored) == 45  # distinct
    if lock == "lock":
        assert stored == list(range(1, 46))  # and without gaps on the embedded store


def test_an_unknown_environment_is_named_in_the_users_pipeline_file(released: Project) -> None:
    with pytest.raises(ConfigError) as caught:
        release.release(released.pipeline, "nope")
    assert str(released.pipeline) in str(caught.value)  # not the deleted temporary copy


def test_release_order_is_configurable_and_checked(released: Project) -> None:
    assert spec.load(released.pipeline).requires("prod") == "staging"
    released.write_pipeline(environments={**ENVIRONMENTS, "qa": {}}, release_order=["qa", "staging", "prod"])
    loaded = spec.load(released.pipeline)
    assert (loaded.requires("qa"), loaded.requires("staging")) == (None, "qa")
    released.write_pipeline(environments=ENVIRONMENTS, release_order=["staging", "production"])
    with pytest.raises(ConfigError, match="release_order"):
        spec.load(released.pipeline)


def test_ci_init_writes_a_workflow_naming_each_pipeline_and_no_secret(
    released: Project, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    other = released.root / "pipelines" / "other.yaml"
    other.parent.mkdir()
    text = yaml.safe_load(released.pipeline.read_text(encoding="utf-8"))
    other.write_text(yaml.safe_dump({**text, "name": "second"}), encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cr3t-pw@mlflow.example.com/")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123456")

    assert cli.main(["ci", "init"]) == 0
    path = released.root / ".github" / "workflows" / "mlops-nb.yml"
    text = path.read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)

    for secret in ("s3cr3t-pw", "alice", "mlflow.example.com", "tok-123456"):
        assert secret not in text
    job = workflow["jobs"]["pipelines"]
    assert job["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    assert job["env"]["MLFLOW_TRACKING_TOKEN"] == "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
    assert workflow["on"] == ["push", "pull_request"]
    runs = {step.get("name"): step.get("run") for step in job["steps"]}
    assert (
        runs["smoke test: fixture"] == "mlops-nb validate notebooks/classifier.ipynb --pipeline pipeline.yaml"
    )
    assert runs["smoke test: second"] == (
        "mlops-nb validate notebooks/classifier.ipynb --pipeline pipelines/other.yaml"
    )
    assert runs["validate classifier.ipynb"] == "mlops-nb validate notebooks/classifier.ipynb --static"
    assert "python -m pip install mlops-nb" in runs["install the project"]

    assert cli.main(["ci", "init"]) == 2  # exists: not overwritten without --force
    assert "--force" in capsys.readouterr().err
    assert cli.main(["ci", "init", "--force"]) == 0


def test_ci_init_on_an_embedded_store_reads_no_secret(released: Project) -> None:
    assert cli.main(["ci", "init"]) == 0
    workflow = yaml.safe_load((released.root / ".github/workflows/mlops-nb.yml").read_text(encoding="utf-8"))
    assert "env" not in workflow["jobs"]["pipelines"]


def test_names_typed_with_quotes_list_no_release_instead_of_breaking_the_filter(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    store.client().create_experiment(records.RELEASE_EXPERIMENT)
    assert cli.main(["release", "list", "it's"]) == 0
    assert cli.main(["release", "list", "fixture", "--env", "x'y\\"]) == 0
    assert capsys.readouterr().out.splitlines() == ["no releases", "no releases"]
