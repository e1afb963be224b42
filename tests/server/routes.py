"""The extension's routes as the running server registered them, with a concrete path for each."""

from __future__ import annotations

import re

from tornado.routing import PathMatches

from mlops_nb.server.handlers import BaseHandler

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def extension_routes(web_app) -> list[tuple[str, type[BaseHandler]]]:
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


def implemented(handler: type[BaseHandler]) -> list[str]:
    """The HTTP methods `handler` answers (others get tornado's 405 before any check)."""
    return [m for m in METHODS if getattr(handler, m.lower()) is not getattr(BaseHandler, m.lower())]


def sample_path(pattern: str) -> str:
    """A concrete path for a route regex: each group becomes a plausible value."""
    path = pattern.rstrip("$")
    return re.sub(r"\([^)]*\)", "0123456789abcdef0123456789abcdef", path).replace("\\", "")
