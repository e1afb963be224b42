"""REST handlers of the promotion and scheduling half: models (promote, rollback, approve, history), releases,
schedules and "Schedule this notebook". Promote, rollback and approve act as the Jupyter user
(``current_user.username``, through ``promotion.actor_name``)."""

from __future__ import annotations

import re
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from mlops_nb import config
from mlops_nb.exceptions import ConfigError, UsageError
from mlops_nb.explore import checks, models, notebook_pipelines, releases
from mlops_nb.redact import redact
from mlops_nb.server import scheduling
from mlops_nb.server.base import BaseHandler, gate_dict

_ALIAS = re.compile(r"^[A-Za-z][\w-]{0,63}$")
_REASON_LIMIT = 2000


def _optional_text(request: dict[str, Any], name: str, limit: int = _REASON_LIMIT) -> str | None:
    value = request.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise UsageError(f"{name} must be a string of at most {limit} characters, not {value!r}.")
    return value.strip()


def fields(request: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(request) - known)
    if unknown:
        raise UsageError(f"Unknown field(s) {unknown}.", hint=f"Known: {', '.join(sorted(known))}.")


def _env(request: dict[str, Any]) -> str | None:
    env = _optional_text(request, "env", 40)
    if env is not None and not _ALIAS.match(env):
        raise UsageError(f"env {env!r} is not an environment name.", hint="E.g. staging or prod.")
    return env


class ModelHandler(BaseHandler):
    """The model routes: the promotion core reads and writes the store of the server process's project
    (``config.current()``); refuse to act when that is not the store this server shows."""

    def same_store(self) -> None:
        shown, core = self.store_settings, config.current()
        # A registry URI left unset is the tracking store's (a pipeline run in this process, e.g. a
        # reproduction, exports MLFLOW_REGISTRY_URI set to it).
        if (shown.tracking_uri, shown.registry_uri or shown.tracking_uri) != (
            core.tracking_uri,
            core.registry_uri or core.tracking_uri,
        ):
            raise ConfigError(
                f"The promotion core would use the store {redact(core.tracking_uri)}, not the one this "
                f"server shows ({redact(shown.tracking_uri)}).",
                hint="Start JupyterLab from the project root, or set MLOPS_NB_PROJECT to it.",
            )

    def actor(self) -> str:
        from mlops_nb.registry import promotion

        user = self.current_user
        return promotion.actor_name(getattr(user, "username", None) or None)


class ModelsHandler(ModelHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        def work() -> dict[str, Any]:
            self.same_store()
            return models.list_models(self.store_settings)

        await self.answer(work)


class ModelVersionHandler(ModelHandler):
    allowed_arguments = frozenset({"env", "gates"})

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        def work() -> dict[str, Any]:
            self.same_store()
            detail = models.model_version(name, version, self.store_settings)
            check = self.single("gates")
            if check not in (None, "true", "false"):
                raise UsageError(f"gates={check!r}: give gates=true to check the promotion gates now.")
            detail["promotion_gates"] = None
            if check == "true":
                from mlops_nb.registry import promotion

                env = _env({"env": self.single("env")})
                with checks.translated(f"model {name!r} version {version}"):
                    gates = promotion.check_gates(name, version, env=env)
                detail["promotion_gates"] = [gate_dict(gate) for gate in gates]
            return detail

        await self.answer(work)


class PromoteHandler(ModelHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        def work() -> dict[str, Any]:
            from mlops_nb.registry import promotion

            self.same_store()
            request = self.json_body('{"to": "champion", "env": "staging", "reason": "..."}')
            fields(request, {"to", "env", "reason", "force"})
            to = _optional_text(request, "to", 64) or "champion"
            if not _ALIAS.match(to):
                raise UsageError(f"to {to!r} is not an alias name.", hint="E.g. champion.")
            force = request.get("force", False)
            if not isinstance(force, bool):
                raise UsageError(f"force must be true or false, not {force!r}.")
            reason = _optional_text(request, "reason")
            if force and reason is None:
                raise UsageError(
                    "A forced promotion needs a reason.", hint="Say why the gates are overridden."
                )
            with checks.translated(f"model {name!r}"):
                move = promotion.promote(
                    models.model_name(name),
                    models.version_number(version),
                    to=to,
                    env=_env(request),
                    actor=self.actor(),
                    reason=reason,
                    force=force,
                )
            return {"move": move.to_dict()}

        await self.answer(work)


class ApproveHandler(ModelHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        def work() -> dict[str, Any]:
            from mlops_nb.registry import promotion

            self.same_store()
            request = self.json_body('{"env": "prod", "reason": "..."}')
            fields(request, {"env", "reason"})
            with checks.translated(f"model {name!r}"):
                move = promotion.approve(
                    models.model_name(name),
                    models.version_number(version),
                    env=_env(request),
                    actor=self.actor(),
                    reason=_optional_text(request, "reason"),
                )
            return {"move": move.to_dict()}

        await self.answer(work)


class RollbackHandler(ModelHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        def work() -> dict[str, Any]:
            from mlops_nb.registry import promotion

            self.same_store()
            request = self.json_body('{"env": "prod", "reason": "..."}')
            fields(request, {"env", "reason"})
            with checks.translated(f"model {name!r}"):
                move = promotion.rollback(
                    models.model_name(name),
                    env=_env(request),
                    actor=self.actor(),
                    reason=_optional_text(request, "reason"),
                )
            return {"move": move.to_dict()}

        await self.answer(work)


class ModelHistoryHandler(ModelHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        def work() -> dict[str, Any]:
            self.same_store()
            return {"name": name, "moves": models.history(name, self.store_settings)}

        await self.answer(work)


class ReleasesHandler(BaseHandler):
    allowed_arguments = frozenset({"pipeline"})

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(lambda: releases.list_releases(self.single("pipeline"), self.store_settings))


class SchedulesHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(lambda: scheduling.list_schedules(self.store_settings))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        def work() -> dict[str, Any]:
            body = self.json_body(
                '{"pipeline_file": "pipelines/train.yaml", "env": "dev", "kind": "interval"}'
            )
            return scheduling.add(body, self.context.server_root, self.store_settings)

        await self.answer(work)


class ScheduleHistoryHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, schedule: str) -> None:
        await self.answer(lambda: scheduling.history(schedule, self.store_settings))


class ScheduleActionHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, schedule: str, action: str) -> None:
        def work() -> dict[str, Any]:
            if action == "remove":
                return scheduling.remove(schedule, self.store_settings)
            return scheduling.act(schedule, action, self.store_settings)

        await self.answer(work)


class NotebookPipelinesHandler(BaseHandler):
    allowed_arguments = frozenset({"notebook"})

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        def work() -> dict[str, Any]:
            notebook = self.single("notebook")
            if notebook is None:
                raise UsageError("notebook is missing.", hint="Give ?notebook=<path of the .ipynb>.")
            return notebook_pipelines.notebook_pipelines(notebook, self.context.server_root)

        await self.answer(work)

    @tornado.web.authenticated
    @authorized
    @authorized("write", resource="contents")
    async def post(self) -> None:
        def work() -> dict[str, Any]:
            body = self.json_body('{"notebook": "train.ipynb", "data_source": "data/train.csv", ...}')
            return notebook_pipelines.write_pipeline(body, self.context.server_root)

        await self.answer(work)


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"models", ModelsHandler),
    (r"models/([^/]+)/versions/([^/]+)", ModelVersionHandler),
    (r"models/([^/]+)/versions/([^/]+)/promote", PromoteHandler),
    (r"models/([^/]+)/versions/([^/]+)/approve", ApproveHandler),
    (r"models/([^/]+)/rollback", RollbackHandler),
    (r"models/([^/]+)/history", ModelHistoryHandler),
    (r"releases", ReleasesHandler),
    (r"schedules", SchedulesHandler),
    (r"schedules/([^/]+)/history", ScheduleHistoryHandler),
    (r"schedules/([^/]+)/([^/]+)", ScheduleActionHandler),
    (r"notebook-pipelines", NotebookPipelinesHandler),
]
