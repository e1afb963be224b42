"""The serving parts that need no server: inference log parts, feedback validation, webhook signatures,
traffic plans, out-of-domain checks and request parsing."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from mlops_nb.exceptions import ConfigError
from mlops_nb.serving import protocol
from mlops_nb.serving.feedback import FeedbackError, FeedbackStore
from mlops_nb.serving.inference_log import InferenceLog, now_us
from mlops_nb.serving.log_reader import parts, read_log, read_table
from mlops_nb.serving.model_source import InputColumn
from mlops_nb.serving.ood import DomainCheck
from mlops_nb.serving.routing import Bandit, Plan, Router, bucket, parse_split
from mlops_nb.serving.webhook import WebhookRejected, WebhookVerifier, signature_of


def _rows(version: str, first: int, n: int) -> tuple[dict, dict, int]:
    common = {"request_id": f"r{first}", "ts": now_us(), "model_name": "m", "model_version": version}
    columns = {"row": list(range(n)), "in.x": [float(first + i) for i in range(n)], "prediction": [1.0] * n}
    return common, columns, n


def test_the_log_rotates_by_size_and_readers_see_every_row_and_no_temporary_file(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path, max_bytes=1)  # every write closes its part
    for index in range(5):
        log.append_columns(*_rows("1" if index < 3 else "2", index * 10, 10))
        log.flush()
    (tmp_path / ".part-20260101T000000-1-1.parquet.tmp").write_bytes(b"half written by a killed server")
    (tmp_path / "notes.txt").write_text("ignored")
    log.close()
    assert len(parts(tmp_path)) == 5
    assert read_table(tmp_path).num_rows == 50
    assert read_table(tmp_path, versions=["2"]).num_rows == 20
    columns = read_table(tmp_path, columns=["in.x", "missing"])
    assert columns.column_names == ["in.x", "missing"] and columns["missing"].null_count == 50
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert read_table(tmp_path, since=future) is None
    assert sum(batch.num_rows for batch in read_log(tmp_path, until=future)) == 50


def test_the_log_rotates_by_time(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path, max_seconds=0.1)
    log.append_columns(*_rows("1", 0, 3))
    deadline = time.monotonic() + 30
    while not parts(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read_table(tmp_path).num_rows == 3  # readable without flush or close
    log.close()


def test_rows_whose_values_disagree_in_type_are_kept_as_text(tmp_path: Path) -> None:
    """One row of another type used to drop every row of its drain (found by the batch/stream audit)."""
    log = InferenceLog(tmp_path)
    base = {"ts": now_us(), "model_name": "m", "model_version": "1", "prediction": 1.0}
    log.append([{**base, "request_id": "a", "in.x": 1.5}, {**base, "request_id": "b", "in.x": "n/a"}])
    with log._io:  # both column batches queued before the writer thread drains either
        log.append_columns(*_rows("1", 0, 2))
        common, columns, n = _rows("1", 10, 2)
        log.append_columns(common, {**columns, "in.x": ["high", None]}, n)
    log.close()
    table = read_table(tmp_path)
    assert table.num_rows == 6
    assert sorted(v for v in table["in.x"].to_pylist() if v is not None) == [
        "0.0",
        "1.0",
        "1.5",
        "high",
        "n/a",
    ]


def test_feedback_is_validated_before_anything_is_stored(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path)
    with pytest.raises(FeedbackError, match="record 1 gives neither reward nor label"):
        store.append([{"request_id": "a", "reward": 1}, {"request_id": "b"}])
    for bad, message in (
        ({"request_id": "", "reward": 1}, "request_id"),
        ({"request_id": "a", "reward": float("nan")}, "finite"),
        ({"request_id": "a", "reward": True}, "finite"),
        ({"request_id": "a", "label": 1, "extra": 2}, "unknown keys"),
        ({"request_id": "a", "label": float("inf")}, "JSON"),
        ({"request_id": "a", "label": None}, "neither reward nor label"),  # was stored as the text "null"
    ):
        with pytest.raises(FeedbackError, match=message):
            store.append(bad)
    assert store.read().empty
    with pytest.raises(FeedbackError, match=r"reward 5.0 is outside \[0, 1\]"):
        store.append([{"request_id": "a", "reward": 1}, {"request_id": "b", "reward": 5}], unit_rewards=True)
    assert store.read().empty
    store.append(
        [
            {"request_id": "a", "reward": 0.5, "label": {"y": 1}},
            {"request_id": "b", "reward": 7, "label": None},
        ]
    )
    frame = store.read()
    assert frame["label"].iloc[0] == '{"y": 1}' and frame["label"].isna().iloc[1]
    assert frame["reward"].tolist() == [0.5, 7.0]  # any scale without a bandit
    store.close()


def test_webhook_signatures_age_and_replays() -> None:
    verifier = WebhookVerifier("s3cret")
    body = b'{"entity": "model_version_alias", "action": "created", "data": {"name": "m"}}'
    stamp = str(int(time.time()))

    def headers(delivery: str, when: str = stamp, key: str = "s3cret") -> dict[str, str]:
        signed = signature_of(key, delivery, when, body)
        return {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": when, "X-MLflow-Signature": signed}

    assert verifier.verify(body, headers("d1"))["entity"] == "model_version_alias"
    with pytest.raises(WebhookRejected, match="already received"):
        verifier.verify(body, headers("d1"))
    with pytest.raises(WebhookRejected, match="does not match"):
        verifier.verify(body, headers("d2", key="other"))
    with pytest.raises(WebhookRejected, match="older than"):
        verifier.verify(body, headers("d3", when=str(int(time.time()) - 3600)))
    with pytest.raises(WebhookRejected, match="no secret"):
        WebhookVerifier(None).verify(body, headers("d4"))


def test_traffic_plans() -> None:
    assert parse_split("challenger:10", "--canary") == ("challenger", 0.1)
    for bad in ("challenger", "challenger:0", "challenger:100", ":5", "c:x"):
        with pytest.raises(ConfigError, match="ALIAS:PCT"):
            parse_split(bad, "--canary")
    with pytest.raises(ConfigError, match="one of canary, ab, bandit"):
        Plan(canary=("a", 0.1), ab=("b", 0.1))
    with pytest.raises(ConfigError, match="two different aliases"):
        Plan(bandit=["a", "a"])
    assert bucket("key") == bucket("key") and 0 <= bucket("key") < 1
    router = Router(Plan(canary=("challenger", 0.5)))
    assert len({router.route("same") for _ in range(50)}) == 1
    bandit = Bandit(["a", "b"], seed=1)
    for index in range(300):
        arm = bandit.choose(str(index))
        bandit.reward(str(index), 1.0 if arm == "b" else 0.0)
    assert bandit.state()["b"]["pulls"] > bandit.state()["a"]["pulls"]
    assert bandit.reward("unknown", 1.0) is None
    rewards = sum(arm["rewards"] for arm in bandit.state().values())
    assert bandit.reward("7", 1.0) is None  # a pull earns one reward: repeats cannot steer the arms
    assert sum(arm["rewards"] for arm in bandit.state().values()) == rewards == 300


def test_out_of_domain_numbers_and_categories() -> None:
    reference = {
        "columns": {
            "x": {"kind": "numeric", "min": 0.0, "max": 10.0},
            "color": {
                "kind": "categorical",
                "top": [{"value": "red"}, {"value": "blue"}],
                "other_frequency": 0.0,
            },
            "city": {
                "kind": "categorical",
                "top": [{"value": "a"}],
                "other_frequency": 0.4,
            },  # long tail: unknown
        }
    }
    check = DomainCheck.from_reference(reference)
    columns = {
        "x": [5.0, 12.0, 13.0, float("nan")],
        "color": ["red", "green", None, "blue"],
        "city": ["z"] * 4,
    }
    assert check.flags(columns, 4) == [[], ["color"], ["x"], ["x"]]
    assert DomainCheck.from_reference(None).empty


def test_request_parsing_refuses_what_it_cannot_score() -> None:
    signature = [InputColumn("a", "double"), InputColumn("n", "long"), InputColumn("s", "string")]
    body = b'{"dataframe_records": [{"a": 1, "n": 2.0, "s": "x", "extra": 1}]}'
    batch = protocol.parse(body, "application/json; charset=utf-8", signature)
    assert batch.columns == {"a": [1.0], "n": [2], "s": ["x"]} and batch.n == 1
    with pytest.raises(protocol.UnsupportedMediaError):
        protocol.parse(body, "application/json; charset=latin-1", signature)
    with pytest.raises(protocol.UnsupportedMediaError):
        protocol.parse(body, None, signature)
    with pytest.raises(protocol.BadInputError, match="non-integer"):
        protocol.parse(b'{"inputs": {"a": [1], "n": [2.5], "s": ["x"]}}', "application/json", signature)
    with pytest.raises(protocol.BadInputError, match="no rows"):
        protocol.parse(b'{"dataframe_records": []}', "application/json", signature)
    with pytest.raises(protocol.BadInputError, match="differ in length"):
        protocol.parse(b'{"inputs": {"a": [1, 2], "n": [2]}}', "application/json", signature)


def test_the_linear_fast_path_predicts_what_sklearn_predicts() -> None:
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier

    from mlops_nb.serving.model_source import _Linear

    for features, target in (load_iris(return_X_y=True), load_breast_cancer(return_X_y=True)):
        for estimator in (LogisticRegression(max_iter=5000), SGDClassifier(random_state=0)):
            estimator.fit(features, target)
            assert np.array_equal(_Linear.of(estimator).predict(features), estimator.predict(features))
    assert (
        _Linear.of(RidgeClassifier().fit(*load_iris(return_X_y=True))) is None
    )  # its own predict: not copied


def test_one_row_requests_given_as_shared_values_keep_their_inputs_flags_and_types(tmp_path: Path) -> None:
    """The online server hands a one-row request over as shared values only (dicts of atoms, untracked by
    the garbage collector); requests whose keys differ, flagged rows and string inputs keep every value."""
    import gc

    log = InferenceLog(tmp_path)
    base = {"ts": now_us(), "model_name": "m", "model_version": "1", "status": "ok", "error": None, "row": 0}
    first = {**base, "request_id": "a", "in.city": "Oslo", "prediction": 1.0, "ood": (), "ood_count": 0}
    flagged = {**base, "request_id": "b", "in.city": "Nowhere", "prediction": 0.0, "ood": ("in.city",),
               "ood_count": 1}  # fmt: skip
    no_input = {**base, "request_id": "c", "prediction": 0.5, "ood": (), "ood_count": 0}
    assert not gc.is_tracked(first) and not gc.is_tracked(flagged)
    with log._io:  # the three queued before the writer thread drains any
        for common in (first, flagged, no_input):
            log.append_columns(common, {}, 1)
    log.close()
    rows = sorted(read_table(tmp_path).to_pylist(), key=lambda row: row["request_id"])
    assert [row["in.city"] for row in rows] == ["Oslo", "Nowhere", None]
    assert [row["ood"] for row in rows] == [[], ["in.city"], []]
    assert [row["ood_count"] for row in rows] == [0, 1, 0]
    assert [row["prediction"] for row in rows] == [1.0, 0.0, 0.5]
    assert all(row["row"] == 0 and row["ts"] is not None for row in rows)
