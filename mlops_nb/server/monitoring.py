"""REST handler of a served version's Monitoring view (explore/monitoring.py; MonitoringView in api/openapi.yaml)."""

from __future__ import annotations

from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from mlops_nb.explore import monitoring
from mlops_nb.server.base import BaseHandler


class MonitoringHandler(BaseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        def work() -> dict[str, Any]:
            return monitoring.monitoring_view(name, version, self.store_settings)

        await self.answer(work)


ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"models/([^/]+)/versions/([^/]+)/monitoring", MonitoringHandler),
]
