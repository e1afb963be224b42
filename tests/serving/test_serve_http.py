"""`mlops-nb serve` over real HTTP on 127.0.0.1: the scoring protocol, bad input, alias following, progressive
delivery, out-of-domain flags, the inference log and feedback (a real server process, real registry)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops_nb import records, store
from mlops_nb.serving import abtest
from mlops_nb.serving.feedback import FeedbackStore
from mlops_nb.serving.log_reader import read_table
from mlops_nb.serving.webhook import signature_of
from tests.serving.models import FEATURES, register, register_scaled, register_unloadable, training_data
from tests.serving.server_process import serving, wait_until

ROWS = training_data(seed=5, n=7)[0]


def log_dir(project: Path, model: str) -> Path:
    return project / ".mlops" / "inference" / model


def move(model: str, alias: str, version: str) -> None:
    store.client().set_registered_model_alias(model, alias, version)


def score(client: httpx.Client, payload: dict, **headers: str) -> httpx.Response:
    return client.post("/invocations", json=payload, headers=headers)


@pytest.fixture(scope="module")
def model(project: Path) -> str:
    """`plain`: version 1 @champion, version 2 (flipped) @challenger."""
    register("plain", alias="champion")
    register("plain", flip=True, alias="challenger")
    return "plain"


@pytest.fixture(scope="module")
def server(project: Path, model: str):
    with serving(project, model, "--poll-seconds", "0.5") as client:
        yield client


def test_predictions_equal_the_models_own_for_every_format(server: httpx.Client, model: str) -> None:
    expected = mlflow.pyfunc.load_model(f"models:/{model}/1").predict(ROWS).tolist()
    records_ = ROWS.to_dict(orient="records")
    payloads = {
        "dataframe_split": {"dataframe_split": ROWS.to_dict(orient="split", index=False)},
        "dataframe_split without columns": {"dataframe_split": {"data": ROWS.to_numpy().tolist()}},
        "dataframe_records": {"dataframe_records": records_},
        "instances": {"instances": records_},
        "inputs (columns)": {"inputs": ROWS.to_dict(orient="list")},
        "inputs (records)": {"inputs": records_},
    }
    for name, payload in payloads.items():
        answer = score(server, payload)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json() == {"predictions": expected}, name
        assert answer.headers["X-Model-Version"] == "1"
    answer = server.post(
        "/invocations", content=ROWS.to_csv(index=False), headers={"Content-Type": "text/csv"}
    )
    assert answer.json() == {"predictions": expected}
    given = score(server, {"dataframe_records": records_[:1]}, **{"X-Request-Id": "my-key-1"})
    assert given.headers["X-Request-Id"] == "my-key-1"
    assert len(score(server, {"dataframe_records": records_[:1]}).headers["X-Request-Id"]) == 32


def test_bad_input_gets_400_naming_the_problem_and_is_counted(server: httpx.Client) -> None:
    before = server.get("/health").json()["counts"].get("error_400", 0)
    cases = {
        b"{not json": "not valid JSON",
        b"[1, 2]": "must be a JSON object",
        b'{"dataframe_records": [{"a": 1, "b": 2, "c": 3}]}': "Missing input columns: 'd'",
        b'{"dataframe_records": [{"a": "x", "b": 2, "c": 3, "d": 1}]}': "Column 'a' holds a non-number",
        b'{"inputs": {"a": [1], "b": [2]}, "instances": []}': "exactly one of",
        b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}': "Row 0",
        b'{"dataframe_records": [{"<script>alert(1)</script>": 1}]}': "Missing input columns",
    }
    for body, expected in cases.items():
        answer = server.post("/invocations", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, body
        assert expected in answer.json()["message"], (body, answer.text)
        assert "<script>" not in answer.text  # the input's name is escaped, never echoed as markup
        assert answer.headers["X-Model-Version"] == "1" and answer.headers["X-Request-Id"]
    counts = server.get("/health").json()["counts"]
    assert counts["error_400"] - before == len(cases)
    assert (
        server.post("/invocations", content=b"a=1", headers={"Content-Type": "text/plain"}).status_code == 415
    )
    assert (
        score(server, {"dataframe_records": ROWS.to_dict(orient="records")}).status_code == 200
    )  # still alive


def test_a_body_over_the_limit_gets_413(project: Path, model: str) -> None:
    with serving(project, model, "--max-body-bytes", "2000") as client:
        big = {"dataframe_records": training_data(n=200)[0].to_dict(orient="records")}
        answer = score(client, big)
        assert answer.status_code == 413 and "limit" in answer.json()["message"]
        chunked = client.post(  # no Content-Length: refused while streaming
            "/invocations",
            content=iter([json.dumps(big).encode()[i : i + 500] for i in range(0, 20000, 500)]),
            headers={"Content-Type": "application/json"},
        )
        assert chunked.status_code == 413
        assert score(client, {"dataframe_records": ROWS.head(2).to_dict(orient="records")}).status_code == 200
        assert client.get("/health").json()["counts"]["error_413"] == 2


def test_alias_moved_during_2000_requests_zero_failures_and_every_request_logged(project: Path) -> None:
    name = "moving"
    register(name, alias="champion")
    register(name, flip=True)
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    statuses, versions, ids = [], [], []
    with serving(project, name, "--poll-seconds", "0.2") as client:
        mover = threading.Timer(0.5, move, (name, "champion", "2"))
        mover.start()
        while len(statuses) < 2000 or versions[-1] != "2":
            answer = score(client, payload)
            statuses.append(answer.status_code)
            versions.append(answer.headers["X-Model-Version"])
            ids.append(answer.headers["X-Request-Id"])
            assert len(statuses) < 50000, "the new version never answered"
        mover.join()
    assert set(statuses) == {200}
    switch = versions.index("2")
    assert switch > 0 and set(versions[switch:]) == {"2"} and set(versions[:switch]) == {"1"}
    table = read_table(log_dir(project, name))
    logged = table.to_pandas()
    assert set(logged["request_id"]) == set(ids) and len(logged) == len(ids)
    assert (logged.set_index("request_id").loc[ids, "model_version"].tolist()) == versions
    assert {"in.a", "in.d", "prediction", "ood", "ood_count", "latency_ms", "variant"} <= set(
        table.column_names
    )
    tags = store.client().get_model_version(name, "2").tags
    deployment = [json.loads(v) for k, v in tags.items() if k.startswith(records.TAG_DEPLOYMENT_PREFIX)]
    assert deployment and deployment[0]["alias"] == "champion" and deployment[0]["share"] == 1.0
    old = [
        json.loads(v)
        for k, v in store.client().get_model_version(name, "1").tags.items()
        if "deployment" in k
    ]
    assert old and "until" in old[0]


def test_a_version_that_fails_to_load_is_not_swapped_in(project: Path) -> None:
    name = "breaking"
    register(name, alias="champion")
    broken = register_unloadable(name)
    with serving(project, name, "--poll-seconds", "0.2") as client:
        move(name, "champion", broken)

        def refused() -> dict | None:
            entry = client.get("/version").json()["versions"][0]
            return entry if broken in entry.get("not_swapped_in", {}) else None

        entry = wait_until(refused, 60, "the broken version to be refused")
        assert entry["version"] == "1" and "weights file is missing" in entry["not_swapped_in"][broken]
        answer = score(client, {"dataframe_records": ROWS.to_dict(orient="records")})
        assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "1"
        assert client.get("/health").json()["load_failures"] == 1


def test_canary_share_within_tolerance_and_sticky(project: Path, model: str) -> None:
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    with serving(project, model, "--canary", "challenger:20") as client:
        versions = [score(client, payload).headers["X-Model-Version"] for _ in range(2000)]
        share = versions.count("2") / len(versions)
        assert 0.17 <= share <= 0.23, share  # binomial sd 0.009: beyond 3 sd
        for key in ("user-1", "user-2", "user-3", "user-4"):
            seen = {
                score(client, payload, **{"X-Request-Id": key}).headers["X-Model-Version"] for _ in range(20)
            }
            assert len(seen) == 1
        shares = {v["alias"]: v["share"] for v in client.get("/version").json()["versions"]}
        assert shares == {"champion": 0.8, "challenger": 0.2}


def test_shadow_never_changes_a_response_and_its_answers_are_logged(project: Path, model: str) -> None:
    frame = training_data(seed=9, n=50)[0]
    champion = mlflow.pyfunc.load_model(f"models:/{model}/1").predict(frame).tolist()
    ids = []
    with serving(project, model, "--shadow", "challenger", "--log-dir", str(project / "shadowlog")) as client:
        for index in range(len(frame)):
            answer = score(client, {"dataframe_records": frame.iloc[[index]].to_dict(orient="records")})
            assert answer.json() == {"predictions": [champion[index]]}
            assert answer.headers["X-Model-Version"] == "1"
            ids.append(answer.headers["X-Request-Id"])
    logged = read_table(project / "shadowlog").to_pandas()
    shadow = logged[logged["variant"] == "shadow"].set_index("request_id").loc[ids]
    main = logged[logged["variant"] == "main"].set_index("request_id").loc[ids]
    assert (shadow["model_version"] == "2").all() and (main["model_version"] == "1").all()
    assert (shadow["prediction"].to_numpy() == 1 - main["prediction"].to_numpy()).all()  # the flipped model


def _ab_run(project: Path, model: str, folder: str, rates: dict[str, float]) -> dict:
    """Serve an A/B test, reward each answer with probability rates[version] (seeded), report."""
    rng = np.random.default_rng(11)
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    log = project / folder
    with serving(project, model, "--ab", "challenger:50", "--log-dir", str(log)) as client:
        for index in range(800):
            answer = score(client, payload, **{"X-Request-Id": f"{folder}-{index}"})
            reward = float(rng.random() < rates[answer.headers["X-Model-Version"]])
            feedback = client.post("/feedback", json={"request_id": f"{folder}-{index}", "reward": reward})
            assert feedback.status_code == 200
    feedback_dir = project / ".mlops" / "feedback" / model
    return abtest.report(model, log_dir=log, feedback_dir=feedback_dir)


def test_ab_report_finds_a_planted_difference_and_none_in_equal_rewards(project: Path, model: str) -> None:
    planted = _ab_run(project, model, "ab-planted", {"1": 0.3, "2": 0.5})
    arms = {arm["variant"]: arm for arm in planted["arms"]}
    assert arms["ab"]["significant"] and arms["ab"]["difference"] > 0.1
    assert arms["main"]["interval"][0] < 0.3 < arms["main"]["interval"][1]
    assert arms["ab"]["interval"][0] < 0.5 < arms["ab"]["interval"][1]
    assert arms["main"]["rewarded"] + arms["ab"]["rewarded"] == 800
    FeedbackStore(project / ".mlops" / "feedback" / model)  # the same folder serves both runs: ids differ
    equal = _ab_run(project, model, "ab-equal", {"1": 0.4, "2": 0.4})
    arms = {arm["variant"]: arm for arm in equal["arms"]}
    assert not arms["ab"]["significant"] and arms["ab"]["p_value"] > 0.05
    assert "SIGNIFICANT" in abtest.render(planted) and "not significant" in abtest.render(equal)


def test_the_bandit_shifts_traffic_to_the_better_arm(project: Path, model: str) -> None:
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    rng = np.random.default_rng(3)
    versions = []
    with serving(project, model, "--bandit", "champion,challenger", "--seed", "7") as client:
        for index in range(600):
            answer = score(client, payload, **{"X-Request-Id": f"bandit-{index}"})
            version = answer.headers["X-Model-Version"]
            versions.append(version)
            reward = float(rng.random() < (0.8 if version == "2" else 0.2))
            client.post("/feedback", json={"request_id": f"bandit-{index}", "reward": reward})
        refused = client.post("/feedback", json={"request_id": "bandit-0", "reward": 5})
        assert refused.status_code == 400 and "outside [0, 1]" in refused.json()["message"]
        state = {v["alias"]: v for v in client.get("/version").json()["versions"]}
    assert versions[-200:].count("2") / 200 > 0.85
    assert state["challenger"]["bandit"]["mean_reward"] > state["champion"]["bandit"]["mean_reward"]


def test_rewards_posted_to_any_worker_reach_the_bandit_of_the_worker_that_answered(
    project: Path, model: str
) -> None:
    """A reward lands on one worker while another may have answered its request (they were lost)."""
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    ids = [f"workers-{index}" for index in range(120)]
    with serving(project, model, "--workers", "2", "--bandit", "champion,challenger") as client:
        url = str(client.base_url)
        for request_id in ids:  # a connection each: the two workers share them out
            answer = httpx.post(f"{url}/invocations", json=payload, headers={"X-Request-Id": request_id})
            assert answer.status_code == 200
        for request_id in ids:
            httpx.post(f"{url}/feedback", json={"request_id": request_id, "reward": 1})

        def rewards_by_worker() -> dict[int, float] | None:
            seen: dict[int, float] = {}
            for _ in range(40):
                state = httpx.get(f"{url}/version").json()
                seen[state["worker"]] = sum(
                    v["bandit"]["rewards"] for v in state["versions"] if "bandit" in v
                )
            return seen if len(seen) == 2 and sum(seen.values()) == len(ids) else None

        seen = wait_until(rewards_by_worker, 60, "every reward to reach the worker that answered its request")
    assert all(count > 0 for count in seen.values()), seen


def test_params_reach_the_models_predict_as_mlflow_passes_them(project: Path) -> None:
    """A JSON body's `params` go to predict(..., params=) under the model's params schema (they were dropped)."""
    register_scaled("scaled", alias="champion")
    rows = {"dataframe_records": ROWS.head(2).to_dict(orient="records")}
    expected = ROWS.head(2)["a"].to_numpy()
    with serving(project, "scaled") as client:
        assert score(client, rows).json()["predictions"] == pytest.approx(expected.tolist())  # the default
        scaled = score(client, {**rows, "params": {"scale": 3.0}})
        assert scaled.json()["predictions"] == pytest.approx((expected * 3).tolist())
        assert score(client, {**rows, "params": {"scale": 3.0, "unknown": 1}}).status_code == 200  # dropped
        refused = score(client, {**rows, "params": [3.0]})
        assert refused.status_code == 400 and "'params' must be an object" in refused.json()["message"]
        wrong = score(client, {**rows, "params": {"scale": "big"}})
        assert wrong.status_code == 400, wrong.text
    logged = read_table(log_dir(project, "scaled")).to_pandas()
    given = logged.loc[logged["status"] == "ok", "params"].dropna().map(json.loads).tolist()
    assert given == [{"scale": 3.0}] * 2 + [{"scale": 3.0, "unknown": 1}] * 2  # as sent, per row


def test_out_of_domain_inputs_are_flagged_and_counted(project: Path, model: str) -> None:
    shifted = ROWS.head(3).copy()
    shifted.loc[shifted.index[1], "b"] = 40.0  # training values are standard normal
    shifted.loc[shifted.index[2], ["a", "d"]] = [-25.0, 30.0]
    with serving(project, model, "--log-dir", str(project / "oodlog")) as client:
        answer = score(client, {"dataframe_records": shifted.to_dict(orient="records")})
        assert answer.status_code == 200
        counts = client.get("/health").json()["counts"]
        assert counts["ood_rows"] == 2 and counts["ood_requests"] == 1
    logged = read_table(project / "oodlog").to_pandas().sort_values("row")
    assert [list(flags) for flags in logged["ood"]] == [[], ["b"], ["a", "d"]]
    assert logged["ood_count"].tolist() == [0, 1, 2]


def test_feedback_takes_rewards_and_labels_and_refuses_bad_records(
    server: httpx.Client, project: Path
) -> None:
    good = [{"request_id": "r1", "label": 1}, {"request_id": "r2", "row": 0, "label": [0, 1], "reward": 0.5}]
    assert server.post("/feedback", json=good).json()["accepted"] == 2
    assert server.post("/feedback", json={"request_id": "r3", "label": "cat"}).status_code == 200
    for bad in ({"request_id": "r4"}, {"reward": 1}, {"request_id": "r5", "reward": "high"}, [], "x"):
        answer = server.post("/feedback", json=bad)
        assert answer.status_code == 400, bad
    folder = project / ".mlops" / "feedback" / "plain"

    def stored() -> dict[str, str] | None:
        frame = FeedbackStore(folder).read()
        labels = dict(zip(frame["request_id"], frame["label"], strict=True))
        return labels if {"r1", "r2", "r3"} <= set(labels) else None

    labels = wait_until(stored, 30, "the server to write its feedback")
    assert json.loads(labels["r2"]) == [0, 1] and json.loads(labels["r3"]) == "cat"


def test_a_signed_webhook_makes_the_move_visible_at_once(project: Path) -> None:
    name = "hooked"
    register(name, alias="champion")
    register(name, flip=True)
    secret = uuid.uuid4().hex
    payload = {"dataframe_records": ROWS.head(1).to_dict(orient="records")}
    with serving(project, name, "--poll-seconds", "3600", env={"MLOPS_NB_WEBHOOK_SECRET": secret}) as client:
        move(name, "champion", "2")

        def post(key: str, delivery: str) -> httpx.Response:
            body = json.dumps({"entity": "model_version_alias", "action": "created",
                               "timestamp": "2026-01-01T00:00:00Z",
                               "data": {"name": name, "alias": "champion", "version": "2"}}).encode()  # fmt: skip
            stamp = str(int(time.time()))
            headers = {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp,
                       "X-MLflow-Signature": signature_of(key, delivery, stamp, body), "Content-Type": "application/json"}  # fmt: skip
            return client.post("/webhooks/mlflow", content=body, headers=headers)

        assert post("wrong-secret", "d1").status_code == 401
        assert score(client, payload).headers["X-Model-Version"] == "1"  # no poll for an hour: not seen
        delivery = str(uuid.uuid4())
        assert post(secret, delivery).json() == {"received": True, "relevant": True}
        assert post(secret, delivery).status_code == 401  # a replay
        wait_until(lambda: score(client, payload).headers["X-Model-Version"] == "2", 60, "the webhook's move")


def test_a_pipeline_files_serving_section_configures_the_server(project: Path, model: str) -> None:
    pipeline = project / "serve.yaml"
    pipeline.write_text(f"model: {{name: {model}}}\nserving:\n  canary: challenger:30\n  poll_seconds: 1\n")
    from mlops_nb.serving.options import build

    options = build(None, pipeline=str(pipeline), flags={"port": 1234})
    assert options.model == model and options.plan.canary == ("challenger", 0.3) and options.port == 1234
    with serving(project, "", "--pipeline", str(pipeline)) as client:
        shares = {v["alias"]: v["share"] for v in client.get("/version").json()["versions"]}
        assert shares == {"champion": 0.7, "challenger": 0.3}
    assert pd.Series(FEATURES).tolist() == FEATURES
