"""Starting `mlops-nb serve` as a real process on a free port of 127.0.0.1, and stopping it by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    """Poll `check()` until it returns something truthy (returned), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if found := check():
                return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def serving(
    project: Path, model: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[httpx.Client]:
    """A running server for `model`; yields a keep-alive client on its base URL."""
    port = free_port()
    # The project alone names its store, as for a user with no MLflow variables set (the server once loaded
    # models through MLflow's default registry instead of the project's).
    environ = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}}
    environ.update({"PYTHONPATH": str(ROOT), "MLOPS_NB_PROJECT": str(project), **(env or {})})
    command = [sys.executable, "-m", "mlops_nb.cli", "serve", model, "--port", str(port), *args]
    log = (project / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(command, cwd=project, env=environ, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError((project / f"serve-{port}.log").read_text())
            return client.get("/ping").status_code == 200

        wait_until(ready, 120, "the server to be ready")
        client.process = process  # type: ignore[attr-defined]
        yield client
    finally:
        client.close()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
