"""Every handler the extension registers refuses a request that carries no token or cookie."""

from __future__ import annotations

import re

from tornado.httpclient import AsyncHTTPClient
from tornado.routing import PathMatches

from mlops_nb.server.handlers import BaseHandler


def _extension_routes(web_app) -> list[tuple[str, type]]:
    """(path regex, handler class) of every rule whose handler belongs to mlops_nb."""
    found = []
    pending = list(web_app.default_router.rules) + list(web_app.wildcard_router.rules)
    while pending:
        rule = pending.pop()
        target = rule.target
        if hasattr(target, "rules"):
            pending.extend(target.rules)
        elif isinstance(target, type) and issubclass(target, BaseHandler):
            assert isinstance(rule.matcher, PathMatches)
            found.append((rule.matcher.regex.pattern, target))
    return found


def _sample_path(pattern: str) -> str:
    """A concrete path for a route regex: each group becomes a plausible value."""
    path = pattern.rstrip("$")
    return re.sub(r"\([^)]*\)", "0123456789abcdef0123456789abcdef", path).replace("\\", "")


async def test_every_handler_refuses_unauthenticated_requests(jp_serverapp, http_server_client, jp_http_port):
    routes = _extension_routes(jp_serverapp.web_app)
    assert len(routes) >= 10, routes
    client = AsyncHTTPClient()  # no token, no cookie
    checked = 0
    for pattern, handler in routes:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if getattr(handler, method.lower()) is getattr(BaseHandler, method.lower()):
                continue  # not implemented by this handler: tornado answers 405 before any auth matters
            url = f"http://127.0.0.1:{jp_http_port}{_sample_path(pattern)}"
            body = "{}" if method in ("POST", "PUT", "PATCH") else None
            response = await client.fetch(
                url, method=method, body=body, raise_error=False, follow_redirects=False, request_timeout=10
            )
            assert response.code == 403, (method, url, response.code, response.body[:200])
            checked += 1
    assert checked >= 11
