"""Streaming a new user's own classifier (string labels, string categories) on a real redis-server: string
predictions are written and logged, and a `record` event may carry other fields beside it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mlops_nb.serving import stream
from mlops_nb.serving.inference_log import read_table
from mlops_nb.serving.streams import open_sink, open_source
from tests.integration.redis_server import redis_server
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
