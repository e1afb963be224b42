"""A deployment's own Authorizer applies to every route (JupyterHub's read-only roles, for instance): each
handler asks it about the resource "mlops-nb", and the snapshot copy, which writes a file, also asks for
"write" on "contents". Refused requests answer 403 and write nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from jupyter_server.auth import Authorizer
from traitlets import List

from mlops_nb.server.handlers import AUTH_RESOURCE, ROUTES
from tests.server.routes import extension_routes, implemented, sample_path
from tests.server.seeding import Seeded


class Denying(Authorizer):
    """Refuses the (action, resource) pairs in `deny` ("*" matches any) and records every question."""

    deny = List(config=True)
    asked: ClassVar[list[tuple[str, str, str, str]]] = []

    def is_authorized(self, handler, user, action: str, resource: str) -> bool:
        Denying.asked.append((handler.request.method, handler.request.path, action, resource))
        return not any(a in (action, "*") and r in (resource, "*") for a, r in self.deny)


@pytest.fixture
def deny(request: pytest.FixtureRequest) -> list[list[str]]:
    return request.param


@pytest.fixture
def jp_server_config(deny: list[list[str]], seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The extension on the seeded store, behind the Denying authorizer."""
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(seeded.settings.root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    Denying.asked.clear()
    return {
        "ServerApp": {"jpserver_extensions": {"mlops_nb": True}, "authorizer_class": Denying},
        "Denying": {"deny": deny},
    }


@pytest.fixture
def call(jp_serverapp, http_server_client, jp_auth_header):
    """Send `method` to a path of the route table with the server's own token: (status, body)."""

    async def send(method: str, path: str, body: object = None) -> tuple[int, dict]:
        response = await http_server_client.fetch(
            path,
            method=method,
            body=json.dumps(body or {}) if method != "GET" else None,
            headers=dict(jp_auth_header),
            raise_error=False,
        )
        return response.code, json.loads(response.body or b"null")

    return send


def _requests(jp_serverapp) -> list[tuple[str, str, type]]:
    return [
        (method, sample_path(pattern), handler)
        for pattern, handler in extension_routes(jp_serverapp.web_app)
        for method in implemented(handler)
    ]


@pytest.mark.parametrize("deny", [[["*", "*"]]], indirect=True)
async def test_an_authorizer_that_refuses_everything_gets_403_everywhere(jp_serverapp, call) -> None:
    requests = _requests(jp_serverapp)
    assert {handler for _, _, handler in requests} == {handler for _, handler in ROUTES}
    for method, path, handler in requests:
        status, body = await call(method, path)
        assert status == 403, (method, path, status, body)
        assert "not authorized" in body["message"], body
        action = "read" if method == "GET" or handler.__name__ == "CompareHandler" else "write"
        assert (method, path, action, AUTH_RESOURCE) in Denying.asked, (method, path, Denying.asked[-3:])


@pytest.mark.parametrize("deny", [[["write", "contents"]], [["write", AUTH_RESOURCE]]], indirect=True)
async def test_read_only_users_read_but_cannot_write_a_snapshot(
    call, jp_base_url: str, jp_root_dir: Path, seeded: Seeded, deny: list[list[str]]
) -> None:
    api = f"{jp_base_url}mlops-nb/api"
    status, body = await call("POST", f"{api}/runs/{seeded.step_run}/snapshot")
    assert status == 403, body
    assert f"not authorized to write on resource: {deny[0][1]}" in body["message"]
    assert not (jp_root_dir / "mlops-snapshots").exists()  # nothing written
    for path in ("settings", "experiments", f"runs/{seeded.step_run}", f"lineage/runs/{seeded.step_run}"):
        status, body = await call("GET", f"{api}/{path}")
        assert status == 200, (path, body)
    status, body = await call("POST", f"{api}/compare", {"run_ids": [seeded.step_run]})
    assert status == 200, body  # comparing only reads
