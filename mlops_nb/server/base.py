"""The base of every REST handler: the shared context, the JSON answer and error shape (see handlers.py)."""

from __future__ import annotations

import dataclasses
import json
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.ioloop import IOLoop

from mlops_nb.config import Settings
from mlops_nb.exceptions import ConfigError, MlopsError, UsageError
from mlops_nb.redact import redact

if TYPE_CHECKING:
    from mlops_nb.server.reproduction import Jobs

AUTH_RESOURCE = "mlops-nb"


def gate_dict(gate: Any) -> dict[str, Any]:
    """A promotion gate (a dataclass, or already a dict) as JSON-ready data."""
    return dataclasses.asdict(gate) if dataclasses.is_dataclass(gate) else dict(gate)


@dataclass(frozen=True)
class Context:
    """What the handlers share: the server's store settings (or the problem that kept them from loading)
    and the executor that runs store queries; the reproduction jobs run on their own threads."""

    settings: Settings | None
    problem: MlopsError | None
    executor: Executor
    server_root: Path
    snapshot_dir: Path
    reproductions: Jobs


class BaseHandler(APIHandler):
    """Runs one core call off the event loop and turns its errors into JSON."""

    auth_resource = AUTH_RESOURCE
    allowed_arguments: frozenset[str] = frozenset()

    @property
    def context(self) -> Context:
        return self.settings["mlops_nb"]

    @property
    def store_settings(self) -> Settings:
        """The project settings the routes read; raises the configuration problem when there is one."""
        context = self.context
        if context.settings is None:
            raise context.problem or ConfigError("mlops_nb settings are not loaded.")
        return context.settings

    def check_arguments(self) -> None:
        """Refuse query parameters this route does not know (a typo would otherwise be silently ignored)."""
        unknown = sorted(set(self.request.query_arguments) - self.allowed_arguments)
        if unknown:
            known = ", ".join(sorted(self.allowed_arguments)) or "none"
            raise UsageError(
                f"Unknown query parameter(s): {', '.join(unknown)}.", hint=f"This route takes: {known}."
            )

    def single(self, name: str) -> str | None:
        """The value of query parameter `name` given at most once."""
        values = self.get_query_arguments(name)
        if len(values) > 1:
            raise UsageError(f"Query parameter {name!r} is given {len(values)} times; give it once.")
        return values[0] if values else None

    def integer(self, name: str, default: int) -> int:
        """Query parameter `name` as an integer."""
        value = self.single(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"Query parameter {name}={value!r} is not a whole number.") from None

    def flag(self, name: str) -> bool:
        """Query parameter `name` as true/false (absent: false)."""
        value = self.single(name)
        if value is None or value in ("false", "0"):
            return False
        if value in ("true", "1"):
            return True
        raise UsageError(f"Query parameter {name}={value[:40]!r} is not true or false.")

    def number(self, name: str, default: float, limit: float) -> float:
        """Query parameter `name` as a number from 0 to `limit`."""
        value = self.single(name)
        if value is None:
            return default
        try:
            found = float(value)
        except ValueError:
            found = -1.0
        if not 0 <= found <= limit:
            raise UsageError(f"Query parameter {name}={value!r} is not a number from 0 to {limit:g}.")
        return found

    def json_body(self, example: str) -> dict[str, Any]:
        """The request body as a JSON object (an empty body is ``{}``); `example` shows the expected shape."""
        try:
            request = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise UsageError(f"The request body is not JSON: {exc}.") from None
        if not isinstance(request, dict):
            raise UsageError(f"The request body must be a JSON object like {example}.")
        return request

    async def answer(self, work: Callable[[], Any]) -> None:
        """Check the query, run `work` on the extension's executor and write its result or its error
        (with the gate table when the error carries one, as a refused promotion does)."""
        try:
            self.check_arguments()
            result = await IOLoop.current().run_in_executor(self.context.executor, work)
        except MlopsError as exc:
            self.refuse(exc)
            return
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(result, allow_nan=False, separators=(",", ":")))

    def refuse(self, exc: MlopsError) -> None:
        """Answer `exc` as an Error with its status."""
        self.set_status(exc.status)
        error = {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
        gates = getattr(exc, "gates", None)
        if gates is not None:
            error["gates"] = [gate_dict(gate) for gate in gates]
        self.finish(json.dumps(error, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors that are not MlopsErrors (tornado's own, or bugs) in the same JSON shape. A bug's text
        stays in the server log (redacted) under a reference that the answer names."""
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        reason = self._reason
        exc_info = kwargs.get("exc_info")
        message = reason
        if exc_info:
            exc = exc_info[1]
            if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
                message = redact(exc.log_message % exc.args if exc.args else exc.log_message)
            elif status_code >= 500:
                reference = uuid.uuid4().hex[:12]
                trace = redact("".join(traceback.format_exception(*exc_info)))
                self.log.error("mlops_nb: internal error %s: %s", reference, trace)
                message = f"Internal error (reference {reference}): the Jupyter server's log has the details."
        self.finish(json.dumps({"error": reason, "message": message, "hint": None}))
