"""REST handlers of the artifact browser: a folder's listing, a file's bytes (served inert: images as
images, everything else as text or bytes, under a sandboxing Content-Security-Policy) and a notebook copied
under the server root for JupyterLab (read side: mlops_nb.explore.artifacts)."""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from tornado.ioloop import IOLoop

from mlops_nb.exceptions import MlopsError
from mlops_nb.explore import artifacts
from mlops_nb.server.base import BaseHandler

_INERT = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class ArtifactListHandler(BaseHandler):
    allowed_arguments = frozenset({"path"})

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        await self.answer(lambda: artifacts.list_artifacts(run_id, self.single("path"), self.store_settings))


class ArtifactFileHandler(BaseHandler):
    """The file's bytes themselves, not JSON; errors are JSON as everywhere."""

    allowed_arguments = frozenset({"path"})

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        try:
            self.check_arguments()
            path = self.single("path")
            data = await IOLoop.current().run_in_executor(
                self.context.executor, lambda: artifacts.read_artifact(run_id, path, self.store_settings)
            )
        except MlopsError as exc:
            self.refuse(exc)
            return
        self.set_header("Content-Security-Policy", _INERT)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(data, set_content_type=artifacts.media_type(path or ""))


class ArtifactOpenHandler(BaseHandler):
    """Writes a file under the server root: needs "write" on contents as well."""

    allowed_arguments = frozenset({"path"})

    @tornado.web.authenticated
    @authorized
    @authorized("write", resource="contents")
    async def post(self, run_id: str) -> None:
        context = self.context

        def work() -> dict[str, Any]:
            root = context.server_root
            copied = artifacts.copy_notebook(
                run_id, self.single("path"), context.snapshot_dir, root, self.store_settings
            )
            return {"run_id": run_id, "path": copied.relative_to(root).as_posix()}

        await self.answer(work)


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"runs/([^/]+)/artifacts", ArtifactListHandler),
    (r"runs/([^/]+)/artifacts/file", ArtifactFileHandler),
    (r"runs/([^/]+)/artifacts/open", ArtifactOpenHandler),
]
