"""The panel's API when the configured tracking server is down: a 503 naming the store, promptly (with
MLflow's default retries the request is held for about 4 minutes and the client gives up first)."""

from __future__ import annotations

import json
import socket

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch: pytest.MonkeyPatch) -> dict:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "mlops.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(name, raising=False)
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


async def test_a_tracking_server_that_is_down_is_a_503_naming_it(jp_fetch) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-nb", "api", "experiments")
    assert caught.value.code == 503
    body = json.loads(caught.value.response.body)
    assert body["error"] and "127.0.0.1" in body["message"]
