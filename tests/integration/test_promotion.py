"""Promotion on real pipeline runs: gates (refused, forced, re-scored), environments and approval, rollback,
history, a move killed midway, the audit report, and a failed run leaving the champion alone.

The tests share one project (two pipeline runs, versions 1 and 2) and run in file order: each says what state
it starts from.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from mlops_nb import records, store
from mlops_nb.cli import main
from mlops_nb.exceptions import NotFoundError, PipelineFailedError, PromotionRefusedError, UsageError
from mlops_nb.pipelines import run
from mlops_nb.registry import audit, promotion
from mlops_nb.registry.promotion_gates import MODEL, ORDER
from tests.integration.pipeline_project import (
    MODEL_NAME,
    Project,
    commit,
    inside,
    make_data,
    new_project,
)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A committed (clean) project whose pipeline ran twice: versions 1 and 2, neither promoted."""
    project = new_project(tmp_path_factory.mktemp("promotion") / "proj")
    root = project.root
    with inside(root):
        project.write_pipeline(environments={"staging": {}, "prod": {"approval": "required"}})
        (root / ".gitignore").write_text(".mlops/\ndownloads/\n", encoding="utf-8")
        commit(root)
        for _ in range(2):
            run.run(project.pipeline, run.RunOptions(progress=False))
        yield project


def _aliases() -> dict[str, str]:
    model = store.client().get_registered_model(MODEL_NAME)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_a_failing_gate_refuses_force_overrides_both_recorded_and_rollback(two_versions, capsys):
    gates = promotion.check_gates(MODEL_NAME, 1)
    assert [(g.name, g.passed) for g in gates] == [
        ("data validation", True),
        ("model validation", True),
        ("lineage", True),
        ("clean tree", True),
    ], [g.message for g in gates]
    first = promotion.promote(MODEL_NAME, 1, actor="ana", reason="first model")
    assert (first.action, first.forced, first.previous_version) == ("promote", False, None)
    assert _aliases()[records.ALIAS_CHAMPION] == "1"

    # version 2 was validated against no champion: against v1 now, both are scored again on its test split
    # (same data and parameters: not better by min_absolute_change)
    assert main(["promote", MODEL_NAME, "--version", "2", "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    (failing,) = [g for g in refused["gates"] if not g["passed"]]
    assert failing["name"] == MODEL and failing["details"]["rescored"] is True
    assert (
        failing["details"]["compared_with"] == records.NO_CHAMPION and failing["details"]["champion"] == "1"
    )
    check = next(c for c in failing["details"]["report"]["checks"] if c["kind"] == "min_absolute_change")
    assert check["verdict"] == "fail" and check["candidate"] == pytest.approx(check["baseline"])
    assert _aliases()[records.ALIAS_CHAMPION] == "1"
    assert promotion.history(MODEL_NAME)[0].action == "reject"

    with pytest.raises(NotFoundError, match=r"does not exist.*mlops-nb history"):  # not "the registry panel"
        promotion.promote(MODEL_NAME, 9)
    with pytest.raises(UsageError, match="needs a reason"):
        promotion.promote(MODEL_NAME, 2, force=True)
    forced = promotion.promote(MODEL_NAME, 2, actor="bo", force=True, reason="beats v1 on <b>fresh</b> data")
    assert (forced.forced, forced.previous_version) == (True, "1")
    assert not next(g for g in forced.gates if g.name == MODEL).passed  # the override keeps the gate table
    assert _aliases()[records.ALIAS_CHAMPION] == "2"

    back = promotion.rollback(MODEL_NAME, actor="cy", reason="v2 drifts <script>alert(1)</script>")
    assert (back.action, back.version, back.previous_version) == ("rollback", "1", "2")
    assert _aliases()[records.ALIAS_CHAMPION] == "1"
    with pytest.raises(UsageError, match="no earlier champion"):
        promotion.rollback(MODEL_NAME)


_KILL_AFTER_ALIAS = """
import os, signal, sys
from mlops_nb import store
from mlops_nb.registry import promotion

set_alias = store.Writer.set_alias

def set_alias_then_die(self, *args, **kwargs):
    set_alias(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # between the alias write and the record write

store.Writer.set_alias = set_alias_then_die
promotion.promote(sys.argv[1], sys.argv[2], force=True, reason="killed midway")
"""


def test_a_move_killed_between_alias_and_record_leaves_a_champion_and_a_consistent_history(two_versions):
    before = _aliases()[records.ALIAS_CHAMPION]  # "1" after the previous test
    other = "2" if before == "1" else "1"
    process = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_ALIAS, MODEL_NAME, other],
        check=False,
        cwd=two_versions.root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    assert _aliases()[records.ALIAS_CHAMPION] == other  # the alias moved in one write: a champion exists
    tags = store.client().get_model_version(MODEL_NAME, other).tags
    states = [
        json.loads(v)["state"] for k, v in tags.items() if k.startswith(records.TAG_PROMOTION_MOVE_PREFIX)
    ]
    assert "intent" in states  # the record was not completed ...
    latest = promotion.history(MODEL_NAME)[0]  # ... and is read as done, since the alias did move
    assert (latest.version, latest.reason, latest.previous_version) == (other, "killed midway", before)

    back = promotion.rollback(MODEL_NAME, actor="ana", reason="undo the killed move")  # repairs the record
    assert back.version == before and _aliases()[records.ALIAS_CHAMPION] == before
    tags = store.client().get_model_version(MODEL_NAME, other).tags
    states = [
        json.loads(v)["state"] for k, v in tags.items() if k.startswith(records.TAG_PROMOTION_MOVE_PREFIX)
    ]
    assert "intent" not in states


def test_environments_order_and_four_eyes_approval(two_versions, capsys):
    with pytest.raises(PromotionRefusedError) as refused:
        promotion.promote(MODEL_NAME, 1, env="prod", actor="ana", reason="straight to prod")
    assert [g.name for g in refused.value.gates if not g.passed] == [ORDER]
    assert "champion-prod" not in _aliases()
    # naming the environment's alias directly must not skip its order and approval
    assert main(["promote", MODEL_NAME, "--version", "1", "--to", "champion-prod"]) == 2
    assert "--env ENV" in capsys.readouterr().err
    with pytest.raises(UsageError, match="environment's alias"):
        promotion.promote(MODEL_NAME, 1, to="champion-staging", actor="ana")
    assert "champion-prod" not in _aliases() and "champion-staging" not in _aliases()

    staged = promotion.promote(MODEL_NAME, 1, env="staging", actor="ana")
    assert staged.alias == "champion-staging" and _aliases()["champion-staging"] == "1"

    request = promotion.promote(MODEL_NAME, 1, env="prod", actor="ana", reason="passed staging")
    assert request.action == "request" and "champion-prod" not in _aliases()
    assert [(m.version, m.alias, m.actor) for m in promotion.pending(MODEL_NAME)] == [
        ("1", "champion-prod", "ana")
    ]
    assert [m.alias for m in promotion.pending()] == ["champion-prod"]  # every model

    with pytest.raises(PromotionRefusedError, match="cannot approve it too"):
        promotion.approve(MODEL_NAME, 1, env="prod", actor="ana")
    assert "champion-prod" not in _aliases()
    approved = promotion.approve(MODEL_NAME, 1, env="prod", actor="bo", reason="reviewed")
    assert (approved.action, approved.actor, approved.alias) == ("approve", "bo", "champion-prod")
    assert _aliases()["champion-prod"] == "1"
    assert promotion.pending(MODEL_NAME) == []
    assert main(["pending", MODEL_NAME, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_history_lists_every_move(two_versions, capsys):
    assert main(["history", MODEL_NAME, "--json"]) == 0
    moves = json.loads(capsys.readouterr().out)
    assert {m["action"] for m in moves} == {"promote", "reject", "rollback", "request", "approve"}
    times = [m["time"] for m in moves]
    assert times == sorted(times, reverse=True)  # newest first
    for move in moves:
        assert set(move) >= {
            "version",
            "alias",
            "action",
            "actor",
            "time",
            "reason",
            "forced",
            "previous_version",
        }
        assert move["gates"] and move["model"] == MODEL_NAME
    forced = [m for m in moves if m["forced"]]
    assert {m["reason"] for m in forced} >= {"beats v1 on <b>fresh</b> data"}


def test_the_audit_report_has_every_section(two_versions):
    out = two_versions.root / "report.html"
    assert main(["audit", MODEL_NAME, "--version", "1", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    for section in audit.SECTIONS:
        assert f"<h2>{section}</h2>" in page
    version = store.client().get_model_version(MODEL_NAME, "1")
    for value in (
        version.tags[records.TAG_NOTEBOOK_HASH],
        version.tags[records.SOURCE_GIT_COMMIT],
        "max_iter",
    ):
        assert value in page
    assert "<td>release</td>" in page  # (run.run without the CLI records no release tag)
    assert "Statistics of ingested data" in page and "segment = 0" in page  # data statistics, slices
    assert "&lt;script&gt;" in page and "<script>" not in page  # the rollback's reason, escaped
    assert "approve" in page and "rollback" in page and "No export, batch scoring or deployment" in page
    location = version.tags[records.TAG_AUDIT_REPORT]
    run_id = version.tags[records.TAG_PIPELINE_RUN]
    assert location == f"runs:/{run_id}/audit/{MODEL_NAME}-v1.html"
    assert [a.path for a in store.client().list_artifacts(run_id, "audit")] == [f"audit/{MODEL_NAME}-v1.html"]


def test_a_failed_pipeline_run_leaves_the_champion_as_it_is(two_versions):
    before, moves = _aliases(), promotion.history(MODEL_NAME)
    make_data(two_versions.data, drop="x3")  # the data gate fails on the missing column
    with pytest.raises(PipelineFailedError, match="data_validation"):
        run.run(two_versions.pipeline, run.RunOptions(progress=False))
    assert _aliases() == before
    assert promotion.history(MODEL_NAME) == moves


_RACE = """
import sys, time
from pathlib import Path
from mlops_nb import store
from mlops_nb.registry import promotion

model, version, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
gates = promotion._gates
promotion._gates = lambda *a, **k: (time.sleep(1.5), gates(*a, **k))[1]  # the holder is read before the gates
store.client()  # imports and the store done: wait for the start signal with the other process
(folder / f"ready-{version}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
promotion.promote(model, version, to="race", force=True, reason=f"race {version}")
"""


def test_two_promotions_at_once_each_record_the_holder_they_replaced(two_versions, tmp_path):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, MODEL_NAME, version, str(tmp_path)],
            cwd=two_versions.root,
            env=os.environ.copy(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in ("1", "2")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{v}").exists() for v in ("1", "2")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for process in processes:
        assert process.wait(300) == 0, process.stderr.read()[-2000:]
    first, second = reversed([m for m in promotion.history(MODEL_NAME) if m.alias == "race"])
    # without the lock both read "no holder" and the second move recorded it too: a rollback would then skip
    # the first version
    assert first.previous_version is None and second.previous_version == first.version
    assert _aliases()["race"] == second.version


def test_rollback_returns_to_a_champion_set_outside_mlops_nb(two_versions):
    before = _aliases()[records.ALIAS_CHAMPION]
    other = "2" if before == "1" else "1"
    store.client().set_registered_model_alias(MODEL_NAME, records.ALIAS_CHAMPION, other)  # MLflow's own API
    promotion.promote(MODEL_NAME, before, force=True, reason="over a champion set by hand")
    back = promotion.rollback(MODEL_NAME, reason="the hand-set one was better")
    assert (back.version, back.previous_version) == (other, before)  # the move's recorded previous holder
    assert _aliases()[records.ALIAS_CHAMPION] == other
