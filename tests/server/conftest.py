"""A real jupyter_server with the mlops_nb extension on a seeded embedded store (pytest-jupyter)."""

from __future__ import annotations

import json

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403  (jp_fetch and the fixtures it needs)

from tests.server import contract
from tests.server.seeding import Seeded, seed_project


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """One seeded project for the whole session (the tests only read it)."""
    return seed_project(tmp_path_factory.mktemp("mlops-project"))


@pytest.fixture
def jp_server_config(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Enable the extension; its store is the seeded project's."""
    monkeypatch.setenv("MLOPS_NB_PROJECT", str(seeded.settings.root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


@pytest.fixture
def api(jp_fetch):
    """Call the API; returns (status, parsed JSON body) without raising on 4xx, after checking the body
    against api/openapi.yaml."""

    async def call(path: str, *, method: str = "GET", body: object = None, params=None) -> tuple[int, dict]:
        kwargs: dict = {"method": method, "raise_error": False, "params": params}
        if method == "POST":
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        response = await jp_fetch("mlops-nb", "api", *path.split("/"), **kwargs)
        answer = json.loads(response.body or b"null")
        contract.check(path, method, response.code, answer)
        return response.code, answer

    return call
