"""The promotion and scheduling routes on a real project: one real pipeline run (model version 1, committed
so its gates pass), the real promotion core acting as the Jupyter user, the real scheduler state database.

The tests share the project and run in file order; each says what state it starts from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from mlops_nb import records, store
from mlops_nb.pipelines import run
from tests.integration.pipeline_project import (
    MODEL_NAME,
    NOTEBOOK,
    Project,
    commit,
    inside,
    new_project,
)
from tests.server import contract


class NamedUsers(IdentityProvider):
    """Token authentication as usual; the authenticated user is named by the X-Test-User header."""

    async def get_user(self, handler):  # type: ignore[no-untyped-def]
        user = await super().get_user(handler)
        if user is None:
            return None
        name = handler.request.headers.get("X-Test-User", "alice")
        return User(username=name, name=name, display_name=name)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A committed project (the server's root) whose pipeline ran once: version 1, not promoted."""
    project = new_project(tmp_path_factory.mktemp("lifecycle") / "proj")
    root = project.root
    (root / "other.ipynb").write_text(NOTEBOOK.read_text(encoding="utf-8"), encoding="utf-8")
    with inside(root):
        project.write_pipeline(environments={"staging": {}, "prod": {"approval": "required"}})
        (root / ".gitignore").write_text(".mlops/\n", encoding="utf-8")
        commit(root)
        run.run(project.pipeline, run.RunOptions(progress=False))
        yield project


@pytest.fixture
def jp_root_dir(project: Project) -> Path:
    return project.root


@pytest.fixture
def jp_server_config(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv(records.ENV_PROJECT, str(project.root))
    return {
        "ServerApp": {"jpserver_extensions": {"mlops_nb": True}, "identity_provider_class": NamedUsers},
    }


@pytest.fixture
def call(jp_fetch):
    """(status, body) of a request as user `user`, the body checked against api/openapi.yaml."""

    async def send(path: str, body: object = None, *, params=None, user: str = "alice") -> tuple[int, dict]:
        kwargs: dict = {"raise_error": False, "params": params, "headers": {"X-Test-User": user}}
        if body is not None:
            kwargs.update(method="POST", body=body if isinstance(body, str) else json.dumps(body))
        response = await jp_fetch("mlops-nb", "api", *path.split("/"), **kwargs)
        answer = json.loads(response.body or b"null")
        contract.check(path, "POST" if body is not None else "GET", response.code, answer)
        return response.code, answer

    return send


def _aliases() -> dict[str, str]:
    return {a: str(v) for a, v in store.client().get_registered_model(MODEL_NAME).aliases.items()}


# models


async def test_models_list_versions_with_their_recorded_gates(call) -> None:
    status, body = await call("models")
    assert status == 200
    (model,) = [m for m in body["models"] if m["name"] == MODEL_NAME]
    (version,) = model["versions"]
    assert version["version"] == "1" and version["run_id"]
    assert {g["gate"]: g["verdict"] for g in version["gates"]}["model"] == "passed"
    assert model["pending"] == []


async def test_a_version_has_its_gate_table_with_raw_values_and_its_lineage(call, project: Project) -> None:
    status, body = await call(f"models/{MODEL_NAME}/versions/1")
    assert status == 200, body
    (check,) = [c for c in body["model_gate"]["checks"] if c["kind"] == "threshold"]
    assert check["metric"] == "test_accuracy" and check["threshold"] == 0.6
    assert check["candidate"] > 0.6 and check["verdict"] == "pass"  # raw values, passing
    assert body["lineage"]["pipeline_run_id"] and body["lineage"]["notebook_hash"]
    assert body["lineage"]["git_commit"] and body["lineage"]["datasets"]
    assert body["promotion_gates"] is None
    status, body = await call(f"models/{MODEL_NAME}/versions/1", params={"gates": "true"})
    assert status == 200, body
    assert body["promotion_gates"] and all(g["passed"] for g in body["promotion_gates"]), body


async def test_a_version_shows_its_last_deploy_check(call) -> None:
    from mlops_nb.serving import deploy_check

    status, body = await call(f"models/{MODEL_NAME}/versions/1")
    assert status == 200 and body["deploy_check"] is None
    store.writer().set_alias(MODEL_NAME, "checked", "1")
    try:
        report = deploy_check.deploy_check(f"{MODEL_NAME}@checked", calls=10)
    finally:
        store.writer().delete_alias(MODEL_NAME, "checked")
    status, body = await call(f"models/{MODEL_NAME}/versions/1")
    assert status == 200, body
    shown = body["deploy_check"]
    assert shown["verdict"] == ("passed" if report.passed else "failed")
    assert [(c["name"], c["passed"]) for c in shown["checks"]] == [(c.name, c.passed) for c in report.checks]
    # the fixture's model was logged without an input example: no signature, said so
    assert "no signature" in shown["checks"][1]["message"]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("models/no-such-model/versions/1", 404, "does not exist"),
        (f"models/{MODEL_NAME}/versions/99", 404, "does not exist"),
        (f"models/{MODEL_NAME}/versions/one", 400, "not a version number"),
        ("models/no-such-model/history", 404, "does not exist"),
    ],
)
async def test_unknown_models_are_404_and_bad_versions_400(call, path: str, status: int, words: str) -> None:
    code, body = await call(path)
    assert code == status and words in body["message"], body


async def test_gates_param_is_checked(call) -> None:
    code, body = await call(f"models/{MODEL_NAME}/versions/1", params={"gates": "yes"})
    assert code == 400 and "gates=true" in body["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ({"target": "champion"}, "Unknown field(s) ['target']"),
        ({"to": "no spaces allowed"}, "not an alias name"),
        ({"env": "../prod"}, "not an environment name"),
        ({"force": "yes", "reason": "x"}, "force must be true or false"),
        ({"force": True}, "needs a reason"),
        ({"reason": 7}, "reason must be a string"),
    ],
)
async def test_promote_refuses_bad_requests_with_a_clear_400(call, body: object, words: str) -> None:
    code, answer = await call(f"models/{MODEL_NAME}/versions/1/promote", body)
    assert code == 400 and words in answer["message"], answer
    assert "champion" not in _aliases()


async def test_promote_to_prod_before_staging_is_refused_with_its_gates(call) -> None:
    code, body = await call(f"models/{MODEL_NAME}/versions/1/promote", {"env": "prod", "reason": "ship it"})
    assert code == 409, body
    failing = [g for g in body["gates"] if not g["passed"]]
    assert failing and body["message"], body
    assert "champion-prod" not in _aliases()


async def test_promote_moves_the_alias_as_the_jupyter_user(call) -> None:
    code, body = await call(
        f"models/{MODEL_NAME}/versions/1/promote", {"env": "staging", "reason": "better"}, user="alice"
    )
    assert code == 200, body
    move = body["move"]
    assert (move["action"], move["alias"], move["actor"], move["reason"]) == (
        "promote",
        "champion-staging",
        "alice",
        "better",
    )
    assert _aliases()["champion-staging"] == "1"
    code, body = await call("models")
    (model,) = [m for m in body["models"] if m["name"] == MODEL_NAME]
    alias = {"alias": "champion-staging", "role": "champion", "env": "staging", "version": "1"}
    assert alias in model["aliases"]
    (version,) = model["versions"]
    assert version["aliases"] == [alias]  # on the version's row too


async def test_prod_needs_approval_by_another_user(call) -> None:
    """From: version 1 is champion in staging; prod requires approval."""
    code, body = await call(
        f"models/{MODEL_NAME}/versions/1/promote", {"env": "prod", "reason": "go"}, user="alice"
    )
    assert code == 200 and body["move"]["action"] == "request", body
    code, body = await call("models")
    (model,) = [m for m in body["models"] if m["name"] == MODEL_NAME]
    assert [(m["version"], m["actor"]) for m in model["pending"]] == [("1", "alice")]
    code, body = await call(
        f"models/{MODEL_NAME}/versions/1/approve", {"env": "prod", "reason": "ok"}, user="alice"
    )
    assert code in (400, 409) and "champion-prod" not in _aliases(), body
    code, body = await call(
        f"models/{MODEL_NAME}/versions/1/approve", {"env": "prod", "reason": "ok"}, user="bob"
    )
    assert code == 200 and body["move"]["actor"] == "bob", body
    assert _aliases()["champion-prod"] == "1"


async def test_rollback_and_history(call) -> None:
    """From: version 1 is champion in staging and prod; nothing held those aliases before."""
    code, body = await call(f"models/{MODEL_NAME}/rollback", {"env": "staging", "reason": "oops", "x": 1})
    assert code == 400 and "Unknown field(s) ['x']" in body["message"]
    code, body = await call(f"models/{MODEL_NAME}/rollback", {"env": "staging", "reason": "oops"})
    assert code in (400, 409) and body["message"], body  # nothing to roll back to
    assert _aliases()["champion-staging"] == "1"
    code, body = await call("models/no-such-model/rollback", {"reason": "x"})
    assert code == 404, body
    code, body = await call(f"models/{MODEL_NAME}/history")
    assert code == 200
    actions = [(m["action"], m["alias"], m["actor"]) for m in body["moves"]]
    assert ("promote", "champion-staging", "alice") in actions and (
        "approve",
        "champion-prod",
        "bob",
    ) in actions
    assert ("reject", "champion-prod", "alice") in actions  # the refusal is recorded too


# releases


async def test_releases_list_each_environment_with_its_smoke_result(call, project: Project) -> None:
    from mlops_nb.pipelines import release

    code, body = await call("releases")
    assert code == 200 and body == {"environments": []}
    release.release(project.pipeline, "staging")
    code, body = await call("releases", params={"pipeline": "fixture"})
    assert code == 200, body
    (group,) = body["environments"]
    assert (group["pipeline"], group["env"], group["current"]) == ("fixture", "staging", 1)
    (item,) = group["releases"]
    assert item["smoke_passed"] is True and item["status"] == "current" and item["smoke_run_id"]
    code, body = await call("releases", params={"pipeline": "bad'name"})
    assert code == 400 and "not a pipeline name" in body["message"]


# schedules and "Schedule this notebook"


async def test_the_notebook_offers_its_pipeline_files(call) -> None:
    code, body = await call("notebook-pipelines", params={"notebook": f"notebooks/{NOTEBOOK.name}"})
    assert code == 200, body
    assert [(p["path"], p["environments"], p["error"]) for p in body["pipelines"]] == [
        ("pipeline.yaml", ["staging", "prod"], None)
    ]
    assert {p["name"] for p in body["parameters"]} >= {"max_iter"}
    for bad, words in [
        ("../x.ipynb", "not inside the project"),
        ("/etc/x.ipynb", "not inside"),
        ("a.txt", "not a"),
    ]:
        code, body = await call("notebook-pipelines", params={"notebook": bad})
        assert code == 400 and words in body["message"], body
    code, body = await call("notebook-pipelines")
    assert code == 400 and "notebook is missing" in body["message"]


async def test_a_pipeline_file_is_written_from_the_parameters_cell(call, project: Project) -> None:
    request = {"notebook": "other.ipynb", "data_source": "data.csv", "target": "label", "model_name": "other"}
    code, body = await call("notebook-pipelines", {**request, "environments": ["bad name"]})
    assert code == 400 and "environments must be a list" in body["message"]
    code, body = await call("notebook-pipelines", {**request, "data_source": "../data.csv"})
    assert code == 400 and "not inside the project" in body["message"]
    code, body = await call("notebook-pipelines", {**request, "environments": ["dev"]})
    assert code == 200, body
    assert body == {"path": "other.pipeline.yaml", "name": "other", "environments": ["dev"]}
    assert "max_iter" in (project.root / "other.pipeline.yaml").read_text(encoding="utf-8")
    code, body = await call("notebook-pipelines", {**request, "environments": ["dev"]})
    assert code == 400 and "exists already" in body["message"]
    code, body = await call("notebook-pipelines", params={"notebook": "other.ipynb"})
    assert [p["path"] for p in body["pipelines"]] == ["other.pipeline.yaml"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"env": "staging", "kind": "interval", "every": "1h"}, "pipeline_file is missing"),
        (
            {"pipeline_file": "../pipeline.yaml", "env": "staging", "kind": "interval"},
            "not inside the project",
        ),
        ({"pipeline_file": "nope.yaml", "env": "staging", "kind": "interval"}, "no file 'nope.yaml'"),
        ({"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "hourly"}, "not a schedule trigger"),
        ({"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "interval"}, "every is missing"),
        (
            {"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "cron", "every": "1h"},
            "do(es) not go",
        ),
        (
            {"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "data", "min_rows": 0},
            "min_rows must be",
        ),
        ({"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "cron", "cron": "every day"}, "cron"),
        ({"pipeline_file": "pipeline.yaml", "env": "nowhere", "kind": "interval", "every": "1h"}, "nowhere"),
        (
            {"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "interval", "every": "1h", "x": 1},
            "x",
        ),
    ],
)
async def test_create_schedule_refuses_bad_requests(call, body: dict, words: str) -> None:
    code, answer = await call("schedules", body)
    assert code == 400 and words in answer["message"], answer
    code, answer = await call("schedules")
    assert answer["schedules"] == []


async def test_a_schedule_is_created_listed_run_now_paused_resumed_and_removed(call) -> None:
    request = {"pipeline_file": "pipeline.yaml", "env": "staging", "kind": "interval", "every": "6h"}
    code, body = await call("schedules", request)
    assert code == 200, body
    schedule = body["id"]
    assert (body["schedule"]["trigger"], body["schedule"]["status"]) == ("every 6h", "active")
    code, body = await call("schedules")
    assert [s["id"] for s in body["schedules"]] == [schedule] and body["schedules"][0]["next_fire"]
    code, body = await call(f"schedules/{schedule}/run-now", {})
    assert code == 200 and body["firing"], body
    code, body = await call(f"schedules/{schedule}/history")
    assert code == 200 and [(f["kind"], f["state"]) for f in body["firings"]] == [("manual", "pending")], body
    code, body = await call(f"schedules/{schedule}/pause", {})
    assert code == 200
    code, body = await call("schedules")
    assert body["schedules"][0]["status"] == "paused"
    code, body = await call(f"schedules/{schedule}/resume", {})
    code, body = await call("schedules")
    assert body["schedules"][0]["status"] == "active"
    code, body = await call(f"schedules/{schedule}/explode", {})
    assert code == 400 and "Unknown schedule action" in body["message"]
    code, body = await call(f"schedules/{schedule}/remove", {})
    assert code == 200
    code, body = await call("schedules")
    assert body["schedules"] == []
    for path in (f"schedules/{schedule}/history", f"schedules/{schedule}/pause"):
        code, body = await call(path, {} if path.endswith("pause") else None)
        assert code == 404 and "No schedule" in body["message"], body
    code, body = await call("schedules/NOT-AN-ID/history")
    assert code == 400 and "not a schedule id" in body["message"]


async def test_model_routes_refuse_when_the_core_would_use_another_store(
    call, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The promotion core acts on the server process's project: never on a store the panel does not show."""
    (tmp_path / "mlops.toml").write_text("", encoding="utf-8")
    monkeypatch.setenv(records.ENV_PROJECT, str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # set by earlier store use in this process
    for path, body in [("models", None), (f"models/{MODEL_NAME}/versions/1/promote", {"reason": "x"})]:
        code, answer = await call(path, body)
        assert code == 400 and "would use the store" in answer["message"], answer
