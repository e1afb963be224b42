"""Streaming throughput end to end: events per second from XADD on the source stream to the prediction on the
sink stream, `mlops-nb stream` (micro-batches, exactly once, inference log on) against a hand-written
consumer of the same group semantics that scores one event per `pyfunc.predict` call (XREADGROUP, predict,
XADD, XACK), the usual first version around an MLflow model. Real redis-server on 127.0.0.1, free port.
Run: `PYTHONPATH=. .venv/bin/python benchmarks/bench_stream.py [--events 20000]`. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from serving_model import REF, project, rows

from tests.integration.redis_server import redis_server


def _publish(client: object, stream: str, count: int, seed: int) -> None:
    frame = rows(count, seed=seed)
    pipe = client.pipeline(transaction=False)
    for i, row in enumerate(frame.to_dict("records")):
        pipe.xadd(stream, {"record": json.dumps(row)})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def _wait(condition: object, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            sys.exit("timed out")
        time.sleep(0.01)


def ours(port: int, env: dict[str, str], root: Path, count: int) -> float:
    import redis

    client = redis.Redis("127.0.0.1", port)
    url = f"redis://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlops_nb.cli", "stream", REF, "--source", f"{url}/in"]
    command += ["--sink", f"{url}/out", "--batch-size", "200", "--block-ms", "50"]
    process = subprocess.Popen(
        command,
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _publish(client, "in", 1, seed=3)  # warm-up: the consumer is up once it answers
        _wait(lambda: client.xlen("out") == 1)
        start = time.perf_counter()
        _publish(client, "in", count, seed=4)
        _wait(lambda: client.xlen("out") == count + 1)
        return time.perf_counter() - start
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def naive(port: int, count: int) -> float:
    import mlflow.pyfunc
    import pandas as pd
    import redis

    client = redis.Redis("127.0.0.1", port, decode_responses=True)
    model = mlflow.pyfunc.load_model(f"models:/{REF}")
    client.xgroup_create("naive-in", "g", id="0", mkstream=True)
    _publish(client, "naive-in", count, seed=5)
    start = time.perf_counter()
    done = 0
    while done < count:
        for _, entries in client.xreadgroup("g", "c", {"naive-in": ">"}, count=1, block=100) or []:
            for event_id, fields in entries:
                prediction = model.predict(pd.DataFrame([json.loads(fields["record"])]))[0]
                client.xadd("naive-out", {"id": event_id, "prediction": str(prediction)})
                client.xack("naive-in", "g", event_id)
                done += 1
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    args = parser.parse_args()
    root, env = project()
    with redis_server(Path(tempfile.mkdtemp(prefix="bench-redis-"))) as port:
        seconds = ours(port, env, root, args.events)
        baseline = naive(port, args.naive_events)
    ours_rate, naive_rate = args.events / seconds, args.naive_events / baseline
    print("streaming inference end to end (XADD -> prediction on the sink stream)")
    print(
        f"  mlops-nb stream (micro-batches, exactly once, log on) {ours_rate:10,.0f} events/s ({args.events:,})"
    )
    print(
        f"  one pyfunc.predict per event (XREADGROUP/XADD/XACK)   {naive_rate:10,.0f} events/s ({args.naive_events:,})"
    )
    print(f"  ratio: {ours_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
