"""The FastAPI adapter of the online server (the only module importing fastapi/starlette): MLflow's
routes (/invocations, /ping, /health, /version) plus /feedback and /webhooks/mlflow, each delegating to
the framework-free Engine. Built by `create()` in each uvicorn worker from the options in its environment."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from mlops_nb.exceptions import MlopsError
from mlops_nb.serving.engine import Engine, Reply
from mlops_nb.serving.options import ServeOptions
from mlops_nb.serving.protocol import TooLargeError, decompress, error_body

log = logging.getLogger(__name__)
_INLINE_BYTES = 16 * 1024  # smaller bodies are scored on the event loop (no thread hop)


def _response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type=reply.media)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (TooLargeError) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"The body has {int(declared)} bytes; the limit is {limit}.",
                            hint="Send fewer rows per request, or start the server with a larger --max-body-bytes.")  # fmt: skip
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"The body is over the limit of {limit} bytes.")
        chunks.append(chunk)
    return decompress(b"".join(chunks), request.headers.get("content-encoding"), limit)


def create(options: ServeOptions | None = None) -> FastAPI:
    """The app serving `options` (default: from MLOPS_NB_SERVE_OPTIONS, as uvicorn's factory)."""
    engine = Engine(options or ServeOptions.from_env())
    limit = engine.options.max_body_bytes

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(engine.start)
        try:
            yield
        finally:
            await run_in_threadpool(engine.stop)

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        given = request.headers.get("x-request-id")
        try:
            body = await _body(request, limit)
        except MlopsError as exc:  # too large, or an encoding it cannot read
            return _response(engine.reject(exc, given))
        content_type = request.headers.get("content-type")
        if len(body) <= _INLINE_BYTES:
            return _response(engine.invoke(body, content_type, given))
        return _response(await run_in_threadpool(engine.invoke, body, content_type, given))

    @app.get("/ping")
    async def ping() -> Response:
        return Response("\n", status_code=200 if engine.ready else 503, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return _response(Reply(200 if engine.ready else 503, _json(engine.health())))

    @app.get("/version")
    async def version() -> Response:
        return _response(Reply(200, _json(engine.versions())))

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            body = await _body(request, limit)
        except TooLargeError as exc:
            return _response(Reply(413, error_body(exc, "REQUEST_TOO_LARGE")))
        except MlopsError as exc:
            return _response(Reply(exc.status if exc.status == 415 else 400, error_body(exc, "BAD_REQUEST")))
        return _response(await run_in_threadpool(engine.feedback, body))

    @app.post("/webhooks/mlflow")
    async def webhook(request: Request) -> Response:
        try:
            body = await _body(request, 1 << 20)
        except TooLargeError as exc:
            return _response(Reply(413, error_body(exc, "REQUEST_TOO_LARGE")))
        except MlopsError as exc:
            return _response(Reply(400, error_body(exc, "BAD_REQUEST")))
        return _response(engine.webhook(body, dict(request.headers)))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        engine.counts["internal_errors"] += 1
        return Response(b'{"error_code": "INTERNAL_ERROR", "message": "Internal error; see the server log."}',
                        status_code=500, media_type="application/json")  # fmt: skip

    return app


def _json(data: object) -> bytes:
    from mlops_nb.serving.protocol import encode

    return encode(data)
