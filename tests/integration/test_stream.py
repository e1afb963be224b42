"""Streaming inference on a real redis-server: 1,000 events each scored exactly once across a consumer killed
(SIGKILL) and restarted mid-stream; another consumer's stale events taken over (XAUTOCLAIM); a redelivered
stream giving no duplicate; malformed events answered with an error; the alias followed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from mlops_nb import records, store
from mlops_nb.serving.log_reader import read_table
from mlops_nb.serving.streams import SETTLED_MS
from tests.integration.pipeline_project import MODEL_NAME, Project
from tests.integration.redis_server import redis_server
from tests.integration.serving_project import REF, served_project

FEATURES = ["x1", "x2", "x3", "x4", "segment"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield from served_project(tmp_path_factory)


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    with redis_server(tmp_path / "redis") as found:
        yield found


def _events(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in FEATURES[:4]})
    frame["segment"] = rng.integers(0, 3, size=rows)
    return frame


def _publish(client: redis.Redis, stream: str, frame: pd.DataFrame) -> list[str]:
    """Half the events as one field per column, half as a `record` JSON field; their ids in order."""
    pipe = client.pipeline()
    for i, row in enumerate(frame.to_dict("records")):
        row["segment"] = int(row["segment"])
        pipe.xadd(stream, {"record": json.dumps(row)} if i % 2 else {k: str(v) for k, v in row.items()})
    return [i.decode() if isinstance(i, bytes) else i for i in pipe.execute()]


def _consumer(project: Project, port: int, *args: str, log_dir: Path) -> subprocess.Popen[str]:
    url = f"redis://127.0.0.1:{port}"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_nb.cli",
            "stream",
            REF,
            "--source",
            f"{url}/in",
            "--sink",
            f"{url}/out",
            "--block-ms",
            "100",
            "--log-dir",
            str(log_dir),
            *args,
        ],
        cwd=project.root,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(
    condition: Callable[[], bool], process: subprocess.Popen[str], what: str, seconds: float = 180
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"the consumer exited ({process.returncode}): {process.stderr.read()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-3000:]
    return out


def _sink(client: redis.Redis, stream: str = "out") -> list[dict[str, str]]:
    return [
        {k.decode(): v.decode() for k, v in fields.items()} for _, fields in client.xrange(stream, "-", "+")
    ]


def _own(frame: pd.DataFrame) -> np.ndarray:
    import mlflow.sklearn

    from mlops_nb.serving.target import location

    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION)
    return mlflow.sklearn.load_model(location(version, store.client())).predict(frame[FEATURES])


def test_each_event_is_scored_exactly_once_across_a_killed_consumer(project, port, tmp_path):
    client = redis.Redis("127.0.0.1", port)
    frame = _events(1_000, seed=5)
    ids = _publish(client, "in", frame)
    log_dir = tmp_path / "log"
    first = _consumer(project, port, "--batch-size", "10", "--consumer", "c1", log_dir=log_dir)
    try:
        _until(lambda: client.xlen("out") >= 150, first, "the first predictions")
    finally:
        first.kill()  # SIGKILL: no chance to finish its batch or flush anything
        first.wait()
    at_kill = client.xlen("out")
    assert at_kill < 1_000, "the consumer finished before it was killed: nothing was tested"
    second = _consumer(project, port, "--batch-size", "10", "--consumer", "c1", log_dir=log_dir)
    try:
        _until(
            lambda: client.xlen("out") >= 1_000 and client.xpending("in", "mlops-nb")["pending"] == 0,
            second,
            "every event",
        )
    finally:
        out = _stop(second)
    sink = _sink(client)
    assert len(sink) == 1_000, f"{len(sink)} predictions for 1,000 events"
    assert sorted(entry["id"] for entry in sink) == sorted(ids)
    by_id = {entry["id"]: entry for entry in sink}
    predicted = np.array([int(json.loads(by_id[i]["prediction"])) for i in ids])
    np.testing.assert_array_equal(predicted, _own(frame))
    assert {entry["model_version"] for entry in sink} == {"1"}
    assert "scored" in out
    logged = read_table(log_dir).to_pandas()
    assert set(logged["source"]) == {"stream"} and logged["request_id"].is_unique
    assert set(logged["request_id"]) <= set(ids)
    # what the restarted consumer scored is all in its log (SIGTERM flushes it)
    assert len(logged) >= 1_000 - at_kill


def test_stale_events_of_a_dead_consumer_are_taken_over_and_redelivery_writes_nothing_twice(
    project, port, tmp_path
):
    client = redis.Redis("127.0.0.1", port)
    frame = _events(50, seed=6)
    ids = _publish(client, "in", frame)
    bad = [client.xadd("in", {"x1": "abc", "x2": "1", "x3": "1", "x4": "1", "segment": "1"}).decode()]
    bad.append(client.xadd("in", {"record": "{not json"}).decode())
    far = client.xadd(
        "in", {"record": json.dumps({"x1": 1e6, "x2": 0, "x3": 0, "x4": 0, "segment": 1})}
    ).decode()
    ids.append(far)
    client.xgroup_create("in", "mlops-nb", id="0")
    client.xreadgroup("mlops-nb", "dead", {"in": ">"}, count=20)  # given to a consumer that never acks
    log_dir = tmp_path / "log"
    process = _consumer(project, port, "--consumer", "c2", "--claim-idle-ms", "200", log_dir=log_dir)
    try:
        pending = lambda: client.xpending("in", "mlops-nb")["pending"]  # noqa: E731
        _until(lambda: client.xlen("out") >= 53 and pending() == 0, process, "the dead consumer's events")
        client.xgroup_setid("in", "mlops-nb", id="0")  # every event delivered once more
        lag = lambda: client.xinfo_groups("in")[0]["lag"]  # noqa: E731
        _until(lambda: lag() == 0 and pending() == 0, process, "the redelivered events")
    finally:
        out = _stop(process)
    sink = _sink(client)
    assert len(sink) == 53 and sorted(e["id"] for e in sink) == sorted(ids + bad)
    errors = {e["id"]: e["error"] for e in sink if "error" in e}
    assert errors.keys() == set(bad)
    assert "column 'x1' must be double, not 'abc'" in errors[bad[0]]
    assert "'record' is not JSON" in errors[bad[1]]
    assert "53 duplicates skipped" in out, out
    logged = read_table(log_dir).to_pandas().set_index("request_id")
    assert len(logged) == 53  # each event logged once, redelivery included
    assert list(logged.loc[far, "ood"]) == ["x1"] and logged.loc[far, "ood_count"] == 1
    assert (logged.loc[bad, "status"] == "error").all()
    # a record per event, settled once acknowledged: it expires within SETTLED_MS instead of piling up
    records = client.keys("out:scored:*")
    assert len(records) == 53
    assert all(0 < client.pttl(key) <= SETTLED_MS for key in records)


def test_the_consumer_follows_the_alias(project, port, tmp_path):
    import mlflow
    from sklearn.dummy import DummyClassifier

    from mlops_nb.registry.register import register

    client = redis.Redis("127.0.0.1", port)
    process = _consumer(project, port, "--poll", "0.2", "--consumer", "c3", log_dir=tmp_path / "log")
    try:
        _publish(client, "in", _events(5, seed=7))
        _until(lambda: client.xlen("out") >= 5, process, "version 1's predictions")
        data = pd.read_csv(project.data)
        model = DummyClassifier(strategy="constant", constant=1).fit(data[FEATURES], data["label"])
        run = store.writer().create_run(store.experiment_id("dummy"), {})
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.sklearn.log_model(model, name="model", input_example=data[FEATURES].head(3))
        version = register(run.info.run_id, info.model_uri, MODEL_NAME).version
        store.writer().set_alias(MODEL_NAME, records.ALIAS_CHAMPION, version)

        def answered_by_new() -> bool:
            if client.xlen("out") < client.xlen("in"):
                return False  # the last event is not answered yet
            if _sink(client)[-1]["model_version"] == str(version):
                return True
            _publish(client, "in", _events(1, seed=8))
            return False

        _until(answered_by_new, process, "the new version's predictions", seconds=120)
    finally:
        out = _stop(process)
    assert f"versions 1, {version}" in out
    assert _sink(client)[-1]["prediction"] == "1"
