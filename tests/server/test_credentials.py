"""Credentials in the tracking URI never reach an answer or the server's log, whatever goes wrong."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator

import pytest

PASSWORD = "pa55w0rd-secret"


@pytest.fixture
def tracking_uri(request: pytest.FixtureRequest) -> str:
    """A tracking server with a password in its URI: one that is down, or one MLflow has no store for."""
    if request.param == "down":
        with socket.socket() as sock:  # a port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://alice:{PASSWORD}@127.0.0.1:{port}"
    return f"nosuchscheme://alice:{PASSWORD}@127.0.0.1/store"


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """Every message the server logs from its start: a filter on its logger sees each record (the
    server replaces the logger's handlers while it starts, and stops propagation meanwhile)."""
    messages: list[str] = []

    def record(entry: logging.LogRecord) -> bool:
        messages.append(entry.getMessage())
        return True

    logger = logging.getLogger("ServerApp")
    logger.addFilter(record)
    yield messages
    logger.removeFilter(record)


@pytest.fixture
def jp_server_config(server_log, tracking_uri: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> dict:
    (tmp_path / "mlops.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


async def _get(jp_fetch, *path: str) -> tuple[int, dict, str]:
    response = await jp_fetch("mlops-nb", "api", *path, raise_error=False)
    text = response.body.decode()
    return response.code, json.loads(text), text


@pytest.mark.parametrize("tracking_uri", ["down"], indirect=True)
async def test_a_down_server_answers_503_without_its_password(jp_fetch, server_log) -> None:
    code, body, text = await _get(jp_fetch, "experiments")
    assert code == 503 and body["error"] == "StoreError"
    assert "http://***@127.0.0.1:" in body["message"]
    code, body, settings_text = await _get(jp_fetch, "settings")
    assert code == 200 and body["tracking_uri"].startswith("http://***@127.0.0.1:")
    log = "\n".join(server_log)
    for shown in (text, settings_text, log):
        assert PASSWORD not in shown and "alice" not in shown
    assert "on store http://***@127.0.0.1:" in log  # the extension's start-up line


@pytest.mark.parametrize("tracking_uri", ["unsupported"], indirect=True)
async def test_an_unexpected_error_answers_a_reference_not_its_text(jp_fetch, server_log) -> None:
    code, body, text = await _get(jp_fetch, "experiments")
    assert code == 500
    match = re.fullmatch(
        r"Internal error \(reference ([0-9a-f]{12})\): the Jupyter server's log has the details\.",
        body["message"],
    )
    assert match, body
    assert "nosuchscheme" not in text and PASSWORD not in text
    logged = [message for message in server_log if match.group(1) in message]
    assert logged and "nosuchscheme://***@127.0.0.1/store" in logged[0]  # the details, redacted
    assert PASSWORD not in "\n".join(server_log)
