"""Thin REST handlers: parse and check the request, call one core function off the event loop, answer JSON.

Every handler derives from jupyter_server's APIHandler; every method is ``@tornado.web.authenticated``
and ``@authorized`` on the resource ``mlops-nb`` (reads need "read", writes "write"), so a deployment's own
Authorizer applies; the snapshot copy also needs "write" on "contents". Core errors (MlopsError) become
``{error, message, hint}`` with their HTTP status; other errors a generic message with a reference to the
server log. Credentials in URLs never reach an answer or a log line.
"""

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from mlops_nb import __version__, explore
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.redact import redact
from mlops_nb.registry import lineage
from mlops_nb.server import artifacts, datasets, lifecycle, monitoring, reproduction
from mlops_nb.server.base import AUTH_RESOURCE, BaseHandler, Context

__all__ = ["AUTH_RESOURCE", "ROUTES", "BaseHandler", "Context"]


class SettingsHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        def work() -> dict[str, Any]:
            settings = self.store_settings
            return {
                "tracking_uri": redact(settings.tracking_uri),
                "embedded": settings.embedded,
                "ui_url": settings.ui_url,
                "experiment": settings.experiment,
                "version": __version__,
            }

        await self.answer(work)


class ExperimentsHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(lambda: {"experiments": explore.list_experiments(self.store_settings)})


class RunsHandler(BaseHandler):
    """With ``offset`` (or ``top_level`` / ``parent``) the runs table's pages; else MLflow's token pages."""

    allowed_arguments = frozenset(
        {"filter", "order_by", "page_token", "max_results", "status", "offset", "top_level", "parent"}
    )

    @tornado.web.authenticated
    @authorized
    async def get(self, experiment_id: str) -> None:
        def work() -> dict[str, Any]:
            if {"offset", "top_level", "parent"} & set(self.request.query_arguments):
                if self.single("page_token") is not None:
                    raise UsageError("page_token and offset exclude each other.", hint="Page by offset.")
                order_by = self.get_query_arguments("order_by")
                if len(order_by) > 1:
                    raise UsageError("The runs table sorts on one column: give order_by once.")
                return explore.runs_table(
                    experiment_id,
                    offset=self.integer("offset", 0),
                    max_results=self.integer("max_results", 100),
                    order_by=order_by[0] if order_by else None,
                    status=self.single("status"),
                    filter_string=self.single("filter"),
                    top_level=self.flag("top_level"),
                    parent=self.single("parent"),
                    settings=self.store_settings,
                )
            return explore.list_runs(
                experiment_id,
                filter_string=self.single("filter"),
                order_by=self.get_query_arguments("order_by"),
                page_token=self.single("page_token"),
                max_results=self.integer("max_results", 100),
                status=self.single("status"),
                settings=self.store_settings,
            )

        await self.answer(work)


class RunHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(lambda: explore.get_run(run_id, self.store_settings))


class MetricHistoryHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str, key: str) -> None:
        await self.answer(lambda: explore.metric_history(run_id, key, self.store_settings))


class PipelineOutlineHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(lambda: explore.pipeline_outline(run_id, self.store_settings))


class SweepOutlineHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(lambda: explore.sweep_outline(run_id, self.store_settings))


class SnapshotHandler(BaseHandler):
    """Writes a file under the server root: needs "write" on contents as well."""

    @tornado.web.authenticated
    @authorized
    @authorized("write", resource="contents")
    async def post(self, run_id: str) -> None:
        context = self.context

        def work() -> dict[str, str]:
            root = context.server_root
            copied = explore.copy_snapshot(run_id, context.snapshot_dir, self.store_settings, root=root)
            return {"run_id": run_id, "path": copied.relative_to(root).as_posix()}

        await self.answer(work)


_COMPARE_FIELDS = frozenset({"run_ids", "metrics", "diff_only", "histories"})


class CompareHandler(BaseHandler):
    """A POST only for its JSON body: it reads, so it needs "read"."""

    @tornado.web.authenticated
    @authorized("read")
    async def post(self) -> None:
        body = self.request.body

        def work() -> dict[str, Any]:
            try:
                request = json.loads(body or b"null")
            except ValueError as exc:
                raise UsageError(f"The request body is not JSON: {exc}.") from None
            if not isinstance(request, dict):
                raise UsageError(
                    'The request body must be a JSON object like {"run_ids": ["<run id>", ...]}.'
                )
            unknown = sorted(set(request) - _COMPARE_FIELDS)
            if unknown:
                raise UsageError(
                    f"Unknown field(s) {unknown}.", hint=f"Known: {', '.join(sorted(_COMPARE_FIELDS))}."
                )
            if "run_ids" not in request:
                raise UsageError("run_ids is missing.", hint='Send {"run_ids": ["<run id>", ...]}.')
            return explore.compare(
                request["run_ids"],
                metrics=request.get("metrics"),
                diff_only=request.get("diff_only", False),
                histories=request.get("histories", True),
                settings=self.store_settings,
            )

        await self.answer(work)


class RunLineageHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(lambda: lineage.run_lineage(run_id, self.store_settings))


class ModelVersionLineageHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        await self.answer(lambda: lineage.model_version_lineage(name, version, self.store_settings))


class UnknownRouteHandler(BaseHandler):
    """Any other path under the API: a JSON 404 instead of tornado's HTML page."""

    async def _unknown(self, path: str) -> None:
        def work() -> None:
            raise NotFoundError(f"No API route /{path}.", hint="See api/openapi.yaml for the routes.")

        await self.answer(work)

    @tornado.web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        await self._unknown(path)

    @tornado.web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        await self._unknown(path)


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"settings", SettingsHandler),
    (r"experiments", ExperimentsHandler),
    (r"experiments/([^/]+)/runs", RunsHandler),
    (r"runs/([^/]+)", RunHandler),
    (r"runs/([^/]+)/metrics/(.+)", MetricHistoryHandler),
    *artifacts.ROUTES,
    (r"runs/([^/]+)/snapshot", SnapshotHandler),
    (r"runs/([^/]+)/pipeline", PipelineOutlineHandler),
    (r"runs/([^/]+)/sweep", SweepOutlineHandler),
    (r"compare", CompareHandler),
    (r"lineage/runs/([^/]+)", RunLineageHandler),
    (r"lineage/models/([^/]+)/versions/([^/]+)", ModelVersionLineageHandler),
    *lifecycle.ROUTES,
    *datasets.ROUTES,
    *reproduction.ROUTES,
    *monitoring.ROUTES,
    (r"(.*)", UnknownRouteHandler),
]
