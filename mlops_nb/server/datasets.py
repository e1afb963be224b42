"""REST handlers of the Datasets view: names → versions, and one version's schema, statistics and the model
versions trained on it (read side: mlops_nb.explore.datasets)."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from mlops_nb.explore import datasets
from mlops_nb.server.base import BaseHandler


class DatasetsHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(lambda: datasets.list_datasets(self.store_settings))


class DatasetVersionHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        await self.answer(lambda: datasets.dataset_version(name, version, self.store_settings))


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"datasets", DatasetsHandler),
    (r"datasets/([^/]+)/versions/([^/]+)", DatasetVersionHandler),
]
