"""Credentials in URLs: hidden in free text, whatever the scheme, with or without a password."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from mlops_nb import config, store
from mlops_nb.exceptions import StoreError
from mlops_nb.redact import redact


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:password@host:5000/api", "http://***@host:5000/api"),
        ("https://ghp_TOKEN@github.com/org/x.git", "https://***@github.com/org/x.git"),
        ("https://TOKEN@pypi.example.com/simple", "https://***@pypi.example.com/simple"),
        ("redis://:hunter2@cache:6379/0", "redis://***@cache:6379/0"),
        ("http://u:p@ss@host/a", "http://***@host/a"),  # an unescaped "@" in the password
        (
            "API request to http://a:b@h/api failed; retry https://c@d/e",
            "API request to http://***@h/api failed; retry https://***@d/e",
        ),
        ("http://host:8080/path@x", "http://host:8080/path@x"),  # "@" in the path, not user info
        ("http://host/?to=a@b", "http://host/?to=a@b"),
        ("sqlite:////home/a@b/mlflow.db", "sqlite:////home/a@b/mlflow.db"),
        ("git@github.com:org/x.git", "git@github.com:org/x.git"),  # scp form: a user name, no secret
        ("write to me@example.com", "write to me@example.com"),
    ],
)
def test_user_info_is_hidden(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_errors_hide_credentials_in_message_and_hint() -> None:
    error = StoreError("at http://u:secret@h/x", hint="set https://TOKEN@h/y")
    assert "secret" not in str(error) and "TOKEN" not in str(error)
    assert error.message == "at http://***@h/x" and error.hint == "set https://***@h/y"


@pytest.fixture
def health_server() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 that answers /health, stopped after the test."""

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    thread.join()


def test_a_tracking_server_with_credentials_in_its_uri_is_reachable(health_server: int, tmp_path) -> None:
    settings = config.Settings(
        root=tmp_path,
        tracking_uri=f"http://alice:pw@127.0.0.1:{health_server}",
        artifact_root=str(tmp_path / "artifacts"),
    )
    assert store.ensure_store(settings) is settings  # urllib must not take "alice:pw@" for the host
