"""Streaming a new user's own classifier (string labels, string categories) on a real redis-server: string
predictions are written and logged, a `record` event may carry other fields beside it, and a consumer whose
Redis goes away mid-stream waits for it and then scores every event exactly once."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mlops_nb import records, store
from mlops_nb.exceptions import UsageError
from mlops_nb.serving import stream
from mlops_nb.serving.log_reader import read_table
from mlops_nb.serving.streams import open_sink, open_source
from tests.integration.redis_server import REDIS_SERVER, _free_port, redis_server
from tests.integration.user_models import CHURN_REF, churn_rows, own_predictions, user_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from user_project(tmp_path_factory.mktemp("stream") / "proj")


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    with redis_server(tmp_path / "redis") as found:
        yield found


def _consumer(port: int, log_dir: Path) -> stream.Consumer:
    url = f"redis://127.0.0.1:{port}"
    options = stream.StreamOptions(consumer="c1", block_ms=50, log_dir=log_dir)
    source = open_source(f"{url}/in", options.group, "c1", claim_idle_ms=options.claim_idle_ms)
    return stream.Consumer(CHURN_REF, source, open_sink(f"{url}/out"), options)


def test_string_predictions_are_written_and_logged_and_record_events_may_carry_other_fields(
    project, port, tmp_path
):
    client = redis.Redis("127.0.0.1", port, decode_responses=True)
    frame = churn_rows(30, seed=3)
    ids = []
    for i, row in enumerate(frame.to_dict("records")):
        fields = (
            {"record": json.dumps(row), "trace_id": f"t{i}"} if i % 2 else {k: str(v) for k, v in row.items()}
        )
        ids.append(client.xadd("in", fields))
    consumer = _consumer(port, tmp_path / "log")
    try:
        while client.xlen("out") < len(ids):
            consumer.step()
    finally:
        consumer.log.close()
    sink = {entry["id"]: entry for _, entry in client.xrange("out")}
    assert [sink[i].get("error") for i in ids] == [None] * len(ids)
    assert [sink[i]["prediction"] for i in ids] == list(own_predictions(frame))
    logged = read_table(tmp_path / "log").to_pandas().set_index("request_id")
    assert list(logged.loc[ids, "prediction"]) == list(own_predictions(frame))
    assert (logged.loc[ids, "status"] == "ok").all()


_DURABLE = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always")


def _start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """redis-server with an append-only file (its events survive a restart), answering PING."""
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), *_DURABLE, "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client, deadline = redis.Redis("127.0.0.1", port), time.monotonic() + 30
    while True:
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"


def _stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def test_the_consumer_waits_for_redis_to_come_back_and_scores_each_event_once(project, tmp_path, caplog):
    port = _free_port()
    server = _start_redis(tmp_path, port)
    client = redis.Redis("127.0.0.1", port, decode_responses=True)
    try:
        frame = churn_rows(400, seed=4)
        ids = [client.xadd("in", {"record": json.dumps(row)}) for row in frame.to_dict("records")[:200]]
        consumer = _consumer(port, tmp_path / "log")
        worker = threading.Thread(target=consumer.run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 120
        while client.xlen("out") < 50:
            assert worker.is_alive() and time.monotonic() < deadline, "the consumer scored nothing"
        _stop_redis(server)  # gone mid-stream
        while "waiting for it to come back" not in caplog.text:
            assert worker.is_alive(), "the consumer died with its server"
            assert time.monotonic() < deadline, "the consumer never noticed the server was gone"
        server = _start_redis(tmp_path, port)
        client = redis.Redis("127.0.0.1", port, decode_responses=True)
        ids += [client.xadd("in", {"record": json.dumps(row)}) for row in frame.to_dict("records")[200:]]
        pending = lambda: client.xpending("in", "mlops-nb")["pending"]  # noqa: E731
        while client.xlen("out") < 400 or pending():
            assert worker.is_alive(), "the consumer died after its server came back"
            assert time.monotonic() < deadline + 120, "the events sent after the restart were not scored"
        consumer.stopping = True
        worker.join(timeout=60)
        sink = [entry for _, entry in client.xrange("out")]
        assert sorted(entry["id"] for entry in sink) == sorted(ids)  # each event once, none lost
        assert [e.get("error") for e in sink] == [None] * 400
        assert consumer.stats.outages >= 1
    finally:
        _stop_redis(server)


def test_a_model_without_signature_logs_events_of_both_forms(project, port, tmp_path):
    import mlflow
    from sklearn.linear_model import Ridge

    from mlops_nb.registry.register import register

    frame = churn_rows(50)[["age", "income"]]
    run = store.writer().create_run(store.experiment_id("user"), {})
    with mlflow.start_run(run_id=run.info.run_id):
        info = mlflow.sklearn.log_model(Ridge().fit(frame, frame["age"]), name="model")  # no signature
    version = register(run.info.run_id, info.model_uri, "nosig").version
    store.writer().set_alias("nosig", records.ALIAS_CHAMPION, version)
    client = redis.Redis("127.0.0.1", port, decode_responses=True)
    ids = [
        client.xadd("in", {"age": "30", "income": "50.5"}),
        client.xadd("in", {"record": json.dumps({"age": 30, "income": 50.5})}),
    ]
    url = f"redis://127.0.0.1:{port}"
    options = stream.StreamOptions(consumer="c1", block_ms=50, log_dir=tmp_path / "log")
    source = open_source(f"{url}/in", options.group, "c1", claim_idle_ms=options.claim_idle_ms)
    consumer = stream.Consumer("nosig@champion", source, open_sink(f"{url}/out"), options)
    try:
        while client.xlen("out") < 2:
            consumer.step()
    finally:
        consumer.log.close()
    logged = read_table(tmp_path / "log").to_pandas().set_index("request_id")
    assert list(logged.loc[ids, "in.age"]) == ["30", "30"]
    assert list(logged.loc[ids, "status"]) == ["ok", "ok"]


@pytest.mark.parametrize("block_ms", [0, 60_000])
def test_a_read_that_would_block_for_ever_or_past_the_socket_timeout_is_refused(block_ms):
    options = stream.StreamOptions(block_ms=block_ms)
    with pytest.raises(UsageError, match=f"--block-ms {block_ms} must be between 1 and"):
        stream.run(CHURN_REF, "redis://127.0.0.1:1/in", "redis://127.0.0.1:1/out", options)


@pytest.mark.parametrize("sink", ["redis://127.0.0.1:1/in", "redis://localhost:1/in"])
def test_a_sink_that_is_the_source_is_refused_before_anything_is_read(sink):
    """Each prediction would come back as an event, be refused and written again, for ever (found by the audit)."""
    with pytest.raises(UsageError, match="The source and the sink are the same stream"):
        stream.run(CHURN_REF, "redis://127.0.0.1:1/in", sink)  # no Redis at port 1: refused before connecting
