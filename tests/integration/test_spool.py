"""A real MLflow tracking server that goes away and comes back: metric points are spooled, then written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlops_nb
from mlops_nb import store
from mlops_nb.capture import metrics
from mlops_nb.exceptions import StoreError
from tests.helpers import make_notebook, papermill


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`mlflow server` on 127.0.0.1 over a SQLite file, startable again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port, self.proc = folder, _free_port(), None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{self.folder / 'server.db'}",
                "--default-artifact-root",
                str(self.folder / "artifacts"),
            ],
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("mlflow server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture
def server(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    srv = Server(project)
    srv.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    yield srv
    srv.stop()


def _points(run_id: str, key: str) -> int:
    return len(store.client().get_metric_history(run_id, key))


def test_points_survive_a_store_outage(server: Server) -> None:
    tracked = mlops_nb.track(experiment="remote", autolog=False)
    for i in range(100):
        mlops_nb.log_metrics({"m": i}, step=i)
    assert tracked.writer.flush().written == 100

    server.stop()
    for i in range(100, 200):
        mlops_nb.log_metrics({"m": i}, step=i)
    stats = tracked.writer.flush(timeout=30)
    assert stats.spooled == 100 and stats.written == 100
    assert mlops_nb.status()["metrics"]["spooled"] == 100 and mlops_nb.status()["store_error"]

    server.start()
    for i in range(200, 250):
        mlops_nb.log_metrics({"m": i}, step=i)
    deadline = time.monotonic() + 30
    while tracked.writer.flush().spooled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _points(tracked.run_id, "m") == 250
    assert [m.step for m in store.client().get_metric_history(tracked.run_id, "m")] == list(range(250))

    # the store goes away again while the run ends: the points wait on disk for the next session
    server.stop()  # before the points are logged, or the writer may store them first
    for i in range(250, 300):
        mlops_nb.log_metrics({"m": i}, step=i)
    with pytest.raises(StoreError, match="kept in"):
        mlops_nb.stop()
    assert tracked.writer.spool.exists()
    server.start()
    mlops_nb.track(experiment="remote-next", autolog=False)
    mlops_nb.stop()
    assert _points(tracked.run_id, "m") == 300
    assert not tracked.writer.spool.exists()


def test_points_in_flight_when_the_kernel_shuts_down_are_spooled(server: Server, project: Path) -> None:
    nb = make_notebook(
        project / "outage.ipynb",
        [
            "%load_ext mlops_nb\n%mlops track --experiment outage --no-autolog",
            "import mlops_nb, os, signal, time, urllib.request\n"
            "from mlops_nb.capture import session\n"
            "for i in range(100): mlops_nb.log_metrics({'m': i}, step=i)\n"
            "assert session.active().writer.flush().written == 100",
            f"os.killpg({server.proc.pid}, signal.SIGTERM)\n"  # the tracking server goes away
            "while True:\n"
            "    try:\n"
            f"        urllib.request.urlopen('{server.url}/health', timeout=1).close()\n"
            "    except OSError:\n"
            "        break\n"
            "    time.sleep(0.05)",
            "for i in range(100, 200): mlops_nb.log_metrics({'m': i}, step=i)",
        ],
    )  # no %mlops stop: the kernel's shutdown must keep the points MLflow is still retrying
    papermill(nb, project / "out.ipynb", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"})  # MLflow's default
    server.proc.wait(timeout=30)
    (spool,) = (project / ".mlops" / "spool").glob("*.jsonl")
    spooled = [json.loads(line) for line in spool.read_text(encoding="utf-8").splitlines()]
    assert [(key, value, step) for key, value, _, step in spooled] == [("m", i, i) for i in range(100, 200)]
    server.start()
    mlops_nb.track(experiment="outage-next", autolog=False)  # writes what earlier sessions left
    mlops_nb.stop()
    history = store.client().get_metric_history(spool.stem, "m")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(200)]
    assert not spool.exists()


def test_points_reach_the_spool_while_mlflow_still_retries(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MLflow's default retries a write to a stopped server is held for minutes; the points logged
    meanwhile must reach the spool on disk within the writer's bound, not wait in memory, where a kill
    (an OOM kill, a preempted node) loses them."""
    monkeypatch.setattr(metrics, "SINK_WAIT", 3.0)
    tracked = mlops_nb.track(experiment="retrying", autolog=False)
    for i in range(10):
        mlops_nb.log_metrics({"m": i}, step=i)
    assert tracked.writer.flush().written == 10

    server.stop()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")  # MLflow's default: backoff for minutes
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT")
    for i in range(10, 110):
        mlops_nb.log_metrics({"m": i}, step=i)
    stats = tracked.writer.flush(timeout=30)
    assert (stats.pending, stats.spooled) == (0, 100), stats
    assert len(tracked.writer.spool.read_text(encoding="utf-8").splitlines()) == 100

    server.start()
    deadline = time.monotonic() + 180
    while tracked.writer.flush().spooled and time.monotonic() < deadline:
        time.sleep(0.5)
    mlops_nb.stop()
    assert [m.step for m in store.client().get_metric_history(tracked.run_id, "m")] == list(range(110))
