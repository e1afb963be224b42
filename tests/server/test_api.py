"""Every REST route against a real server and store: good input, bad input (400), unknown ids (404)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_nb import records
from tests.server.seeding import XSS_NAME, Seeded

UNKNOWN_RUN = "f" * 32


def assert_error(status: int, body: dict, expected: int, *words: str) -> None:
    assert status == expected, body
    assert set(body) >= {"error", "message"}
    for word in words:
        assert word.lower() in body["message"].lower(), body["message"]


async def test_settings(api, seeded: Seeded):
    status, body = await api("settings")
    assert status == 200
    assert body["embedded"] is True
    assert body["tracking_uri"] == seeded.settings.tracking_uri
    assert body["experiment"] == "demo"
    assert body["ui_url"] is None


async def test_experiments_with_counts(api, seeded: Seeded):
    status, body = await api("experiments")
    assert status == 200
    demo = next(e for e in body["experiments"] if e["name"] == "demo")
    assert demo["experiment_id"] == seeded.experiment_id
    assert demo["run_count"] == 6
    assert demo["active_run_count"] == 1


async def test_runs_page_rows(api, seeded: Seeded):
    status, body = await api(f"experiments/{seeded.experiment_id}/runs")
    assert status == 200
    assert body["total_count"] == 6
    assert body["next_page_token"] is None
    rows = {row["run_id"]: row for row in body["runs"]}
    assert len(rows) == 6
    step = rows[seeded.step_run]
    assert step["mode"] == "pipeline"
    assert step["params"] == {"lr": "0.1", "depth": "3", "seed": "7"}
    assert step["metrics"]["accuracy"] == pytest.approx(0.9)
    assert step["parent_run_id"] == seeded.pipeline_run
    out_of_order, dirty, html = (rows[run_id] for run_id in seeded.interactive)
    assert [w["code"] for w in out_of_order["warnings"]] == ["execution_order"]
    assert [w["code"] for w in dirty["warnings"]] == ["git_dirty"]
    assert html["run_name"] == XSS_NAME  # returned verbatim; the front end escapes it
    assert html["warnings"] == [{"code": "split_leakage", "message": "3 rows of test are also in train"}]
    assert rows[seeded.running_run]["status"] == "RUNNING"
    assert rows[seeded.running_run]["duration_ms"] >= 0
    assert body["columns"] == {"params": ["depth", "lr", "seed"], "metrics": ["accuracy", "loss"]}


async def test_runs_paging_reaches_every_run(api, seeded: Seeded):
    seen: list[str] = []
    token = None
    while True:
        params = {"max_results": "2", **({"page_token": token} if token else {})}
        status, body = await api(f"experiments/{seeded.experiment_id}/runs", params=params)
        assert status == 200, body
        assert len(body["runs"]) <= 2
        seen += [row["run_id"] for row in body["runs"]]
        token = body["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6


async def test_runs_filter_order_status(api, seeded: Seeded):
    path = f"experiments/{seeded.experiment_id}/runs"
    status, body = await api(path, params={"filter": "params.lr = '0.1'"})
    assert status == 200
    assert [row["run_id"] for row in body["runs"]] == [seeded.step_run]
    assert body["total_count"] is None
    status, body = await api(path, params=[("order_by", "metrics.loss ASC"), ("filter", "metrics.loss < 2")])
    assert status == 200
    losses = [row["metrics"]["loss"] for row in body["runs"]]
    assert losses == sorted(losses)
    assert len(losses) == 4
    status, body = await api(path, params={"status": "RUNNING"})
    assert [row["run_id"] for row in body["runs"]] == [seeded.running_run]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "params.lr = 3"}, ["invalid", "quoted string"]),
        ({"filter": "nonsense"}, ["invalid"]),
        ({"order_by": "metrics.loss SIDEWAYS"}, ["invalid"]),
        ({"max_results": "0"}, ["max_results"]),
        ({"max_results": "5000"}, ["max_results"]),
        ({"max_results": "ten"}, ["max_results", "whole number"]),
        ({"status": "DONE"}, ["status"]),
        ({"page_token": "not-a-token"}, ["invalid"]),
        ({"page_token": "W10="}, ["not a page token"]),  # base64 of [] (not MLflow's shape)
        ({"page_token": "eyJvZmZzZXQiOiAxZTMwfQ=="}, ["not a page token"]),  # {"offset": 1e30}
        ({"colour": "red"}, ["unknown query parameter", "colour"]),
    ],
)
async def test_runs_bad_input(api, seeded: Seeded, params: dict, words: list[str]):
    status, body = await api(f"experiments/{seeded.experiment_id}/runs", params=params)
    assert_error(status, body, 400, *words)


async def test_runs_bad_and_unknown_experiment(api):
    assert_error(*await api("experiments/abc/runs"), 400, "not an experiment id")
    assert_error(*await api("experiments/987654/runs"), 404, "does not exist")


async def test_run_detail(api, seeded: Seeded):
    status, body = await api(f"runs/{seeded.step_run}")
    assert status == 200, body
    assert body["experiment_name"] == "demo"
    assert body["metric_histories"]["loss"][0] == {
        "step": 0,
        "value": 1.0,
        "timestamp": body["metric_histories"]["loss"][0]["timestamp"],
    }
    assert [p["step"] for p in body["metric_histories"]["accuracy"]] == [0, 1, 2, 3, 4]
    splits = {s["name"]: s for s in body["splits"]}
    assert set(splits) == {"train", "test"}
    assert splits["train"]["context"] == "training"
    assert splits["test"]["digest"] == "b" * 32
    assert splits["train"]["num_rows"] == 80
    assert splits["train"]["columns"]["age"]["std"] is None  # NaN in the statistics file → null
    assert splits["train"]["columns"]["city"]["top"][0]["value"] == "Oslo"
    assert body["code"]["git_commit"].startswith("0123456789")
    assert body["code"]["git_dirty"] is False
    assert body["code"]["snapshot_path"] == "code/train.ipynb"
    assert body["code"]["git_diff_path"] == "code/git.diff"
    assert body["pipeline_run_id"] == seeded.pipeline_run
    assert body["model_versions"] == [
        {"name": "demo-model", "version": "1", "aliases": ["champion"], "status": "READY"}
    ]
    assert body["links"]["mlflow_ui"] is None
    hint = body["links"]["mlflow_ui_hint"]  # says how to get the link instead of hiding it
    assert "ui_url" in hint and f"--backend-store-uri {seeded.settings.tracking_uri}" in hint
    groups = body["tag_groups"]
    assert groups["mlflow"]["mlflow.source.git.commit"].startswith("0123456789")
    assert groups["mlops_nb"][records.TAG_PIPELINE_RUN] == seeded.pipeline_run
    assert not set(groups["user"]) & {*groups["mlflow"], *groups["mlops_nb"]}
    assert body["error"] is None and body["registration"] is None and body["gates"] == {}
    status, parent = await api(f"runs/{seeded.pipeline_run}")
    assert status == 200
    assert parent["child_run_ids"] == [seeded.step_run]


async def test_run_detail_bad_and_unknown(api):
    assert_error(*await api("runs/not-a-run"), 400, "not a run id")
    assert_error(*await api(f"runs/{UNKNOWN_RUN}"), 404, UNKNOWN_RUN)


async def test_metric_history(api, seeded: Seeded):
    status, body = await api(f"runs/{seeded.step_run}/metrics/loss")
    assert status == 200
    assert [p["value"] for p in body["points"]] == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6])
    assert_error(*await api(f"runs/{seeded.step_run}/metrics/nope"), 404, "no metric 'nope'")
    assert_error(*await api("runs/XYZ/metrics/loss"), 400, "not a run id")
    assert_error(*await api(f"runs/{UNKNOWN_RUN}/metrics/loss"), 404)


async def test_snapshot_copy_opens_in_contents_api(api, jp_fetch, jp_serverapp, seeded: Seeded):
    status, body = await api(f"runs/{seeded.step_run}/snapshot", method="POST", body={})
    assert status == 200, body
    assert body["path"] == f"mlops-snapshots/{seeded.step_run}/train.ipynb"
    assert (Path(jp_serverapp.root_dir) / body["path"]).is_file()
    response = await jp_fetch("api", "contents", *body["path"].split("/"))
    assert response.code == 200
    assert_error(
        *await api(f"runs/{seeded.pipeline_run}/snapshot", method="POST", body={}),
        404,
        "no notebook snapshot",
    )
    assert_error(*await api("runs/../snapshot", method="POST", body={}), 400)
    assert_error(*await api(f"runs/{UNKNOWN_RUN}/snapshot", method="POST", body={}), 404)


async def test_compare(api, seeded: Seeded):
    ids = [seeded.step_run, *seeded.interactive]
    status, body = await api("compare", method="POST", body={"run_ids": ids})
    assert status == 200, body
    assert [r["run_id"] for r in body["runs"]] == ids
    params = {p["key"]: p for p in body["params"]}
    assert params["lr"]["differs"] is True
    assert params["depth"] == {"key": "depth", "values": ["3"] * 4, "differs": False}
    metrics = {m["key"]: m for m in body["metrics"]}
    assert metrics["accuracy"]["steps"] == [0, 1, 2, 3, 4]
    assert [s["run_id"] for s in metrics["accuracy"]["series"]] == ids
    assert metrics["accuracy"]["series"][0]["values"] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert metrics["accuracy"]["best_run_id"] == seeded.step_run
    assert metrics["loss"]["best_run_id"] == seeded.step_run  # lowest loss wins
    assert metrics["loss"]["summary"][0] == {
        "run_id": seeded.step_run,
        "last": pytest.approx(0.6),
        "min": pytest.approx(0.6),
        "max": pytest.approx(1.0),
        "mean": pytest.approx(0.8),
        "count": 5,
        "last_step": 4,
    }
    status, body = await api(
        "compare",
        method="POST",
        body={"run_ids": ids, "diff_only": True, "metrics": ["loss"], "histories": False},
    )
    assert status == 200
    assert [p["key"] for p in body["params"]] == ["lr"]
    assert [m["key"] for m in body["metrics"]] == ["loss"]
    assert body["metrics"][0]["steps"] == []
    assert len(body["metrics"][0]["summary"]) == 4


async def test_compare_aligns_runs_with_different_steps(api, seeded: Seeded):
    status, body = await api(
        "compare", method="POST", body={"run_ids": [seeded.step_run, seeded.running_run]}
    )
    assert status == 200
    accuracy = next(m for m in body["metrics"] if m["key"] == "accuracy")
    assert accuracy["steps"] == [0, 1, 2, 3, 4]
    assert accuracy["series"][1]["values"] == [0.3, None, None, None, None]
    loss = next(m for m in body["metrics"] if m["key"] == "loss")
    assert loss["series"][1]["values"] == [None] * 5
    assert loss["summary"][1]["count"] == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", ["not json"]),
        ([1, 2], ["json object"]),
        ({}, ["run_ids is missing"]),
        ({"run_ids": []}, ["run_ids"]),
        ({"run_ids": "abc"}, ["run_ids"]),
        ({"run_ids": ["nope"]}, ["not a run id"]),
        ({"run_ids": ["a" * 32, "a" * 32]}, ["more than once"]),
        ({"run_ids": ["a" * 32], "metrics": "loss"}, ["metrics"]),
        ({"run_ids": ["a" * 32], "diff_only": "yes"}, ["diff_only"]),
        ({"run_ids": ["a" * 32], "colour": 1}, ["unknown field"]),
    ],
)
async def test_compare_bad_input(api, body: object, words: list[str]):
    assert_error(*await api("compare", method="POST", body=body), 400, *words)


async def test_compare_unknown_run(api, seeded: Seeded):
    status, body = await api("compare", method="POST", body={"run_ids": [seeded.step_run, UNKNOWN_RUN]})
    assert_error(status, body, 404, UNKNOWN_RUN)


async def test_run_lineage(api, seeded: Seeded):
    status, graph = await api(f"lineage/runs/{seeded.step_run}")
    assert status == 200, graph
    assert graph["root"] == f"run:{seeded.step_run}"
    kinds = {node["id"]: node["type"] for node in graph["nodes"]}
    assert kinds[f"run:{seeded.pipeline_run}"] == "pipeline_run"
    assert kinds["model_version:demo-model/1"] == "model_version"
    assert sorted(k for k, v in kinds.items() if v == "dataset") == [
        "dataset:010" + "a" * 29,
        "dataset:" + "b" * 32,
    ]
    edges = {(e["source"], e["relation"], e["target"]) for e in graph["edges"]}
    run = f"run:{seeded.step_run}"
    assert ("model_version:demo-model/1", "produced_by", run) in edges
    assert (run, "step_of", f"run:{seeded.pipeline_run}") in edges
    assert (run, "ran_notebook", "notebook:" + "ab" * 32) in edges
    assert ("notebook:" + "ab" * 32, "at_commit", "commit:0123456789abcdef0123456789abcdef01234567") in edges
    assert all(e["source"] in kinds and e["target"] in kinds for e in graph["edges"])
    assert_error(*await api("lineage/runs/zzz"), 400, "not a run id")
    assert_error(*await api(f"lineage/runs/{UNKNOWN_RUN}"), 404)


async def test_model_version_lineage(api, seeded: Seeded):
    status, graph = await api("lineage/models/demo-model/versions/1")
    assert status == 200, graph
    root = next(node for node in graph["nodes"] if node["id"] == graph["root"])
    assert root["data"]["aliases"] == ["champion"]
    assert {"source": graph["root"], "target": f"run:{seeded.step_run}", "relation": "produced_by"} in graph[
        "edges"
    ]
    assert any(node["type"] == "dataset" for node in graph["nodes"])
    assert_error(*await api("lineage/models/demo-model/versions/one"), 400, "not a version number")
    assert_error(*await api("lineage/models/demo-model/versions/7"), 404)
    assert_error(*await api("lineage/models/no-such-model/versions/1"), 404)


async def test_unknown_route_is_json_404(api):
    assert_error(*await api("nothing/here"), 404, "no api route")


class TestInvalidProjectSettings:
    """A broken mlops.toml: the extension still loads and every route explains the problem (no 500)."""

    @pytest.fixture
    def jp_server_config(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "mlops.toml").write_text("colour = 'red'\n", encoding="utf-8")
        monkeypatch.setenv("MLOPS_NB_PROJECT", str(broken))
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}

    async def test_routes_answer_the_configuration_error(self, api):
        for path in ("settings", "experiments", "experiments/1/runs", f"runs/{UNKNOWN_RUN}"):
            status, body = await api(path)
            assert_error(status, body, 400, "unknown key", "colour")
        assert_error(*await api("compare", method="POST", body={"run_ids": [UNKNOWN_RUN]}), 400, "colour")
