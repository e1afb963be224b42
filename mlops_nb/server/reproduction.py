"""Reproductions started from the panel ("Reproduce" on a model version or a run).

A reproduction runs the pipeline again (tens of seconds), so the POST starts a job on its own small thread
pool, never on the event loop nor on the query executor, and answers its id at once; ``GET
reproductions/{id}`` answers the job's state (``?wait=SECONDS`` holds the answer until the job ends or the
wait is over). A second reproduction of the same model version (or run) while one is queued or running is
refused (409). The server keeps the last ``KEPT`` jobs in memory; the verdict itself is also tagged on the
runs and the model version by the reproduce core (mlops_nb.pipelines.reproduce).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
import traceback
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from mlops_nb import store
from mlops_nb.exceptions import MlopsError, NotFoundError, UsageError
from mlops_nb.explore import checks, models
from mlops_nb.redact import redact
from mlops_nb.server.lifecycle import ModelHandler, fields

KEPT = 100
WORKERS = 2
MAX_WAIT = 60.0
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_OPTIONS = {"tolerance", "data", "allow_data_change", "strict_env"}


@dataclass
class Job:
    """One reproduction: what it reproduces, its state and, once ended, its result or its error."""

    id: str
    target: dict[str, str]  # {"model", "version"} or {"run_id"}
    options: dict[str, Any]
    started: float = field(default_factory=time.time)
    state: str = "queued"  # queued | running | finished | failed
    ended: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    future: Future[None] = field(default_factory=Future)

    def to_dict(self) -> dict[str, Any]:
        """The contract's ReproductionJob."""
        return {
            "id": self.id,
            "target": self.target,
            "options": self.options,
            "state": self.state,
            "started": int(self.started * 1000),
            "ended": None if self.ended is None else int(self.ended * 1000),
            "elapsed_seconds": round((self.ended or time.time()) - self.started, 1),
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    """The server's reproduction jobs (thread-safe)."""

    def __init__(self, log: Any = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mlops-nb-reproduce")
        self._log = log

    def start(self, target: dict[str, str], options: dict[str, Any]) -> Job:
        """Queue a reproduction of `target`; MlopsError (409) when one of it has not ended yet."""
        with self._lock:
            for job in self._jobs.values():
                if job.target == target and job.state in ("queued", "running"):
                    raise ReproductionRunningError(
                        f"{_describe(target)} is already being reproduced (job {job.id}, {job.state}).",
                        hint=f"Wait for its verdict: GET reproductions/{job.id}.",
                    )
            job = Job(uuid.uuid4().hex, target, options)
            self._jobs[job.id] = job
            for old in [j for j in self._jobs.values() if j.state in ("finished", "failed")][:-KEPT]:
                del self._jobs[old.id]
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job:
        """The job `job_id`; UsageError for a malformed id, NotFoundError for an unknown one."""
        if not _JOB_ID.match(job_id):
            raise UsageError(f"{job_id!r} is not a reproduction job id.", hint="32 hexadecimal characters.")
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"No reproduction job {job_id} on this server.",
                hint="Jobs are kept in memory: a restarted server forgets them (the verdict stays tagged "
                "on the model version).",
            )
        return job

    def every(self) -> list[Job]:
        """Every kept job, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.started)

    def _run(self, job: Job) -> None:
        from mlops_nb.pipelines import reproduce

        job.state = "running"
        try:
            options = reproduce.ReproduceOptions(progress=False, **job.options)
            found = reproduce.reproduce(
                job.target.get("model"),
                job.target.get("version"),
                run_id=job.target.get("run_id"),
                options=options,
            )
            job.result = _result(found.to_dict())
            job.state = "finished"
        except MlopsError as exc:
            job.error = {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
            job.state = "failed"
        except Exception as exc:  # a bug: its text goes to the log, the job names the reference
            reference = uuid.uuid4().hex[:12]
            if self._log is not None:
                trace = redact("".join(traceback.format_exception(exc)))
                self._log.error("mlops_nb: reproduction %s failed (%s): %s", job.id, reference, trace)
            job.error = {
                "error": "InternalError",
                "message": f"Internal error (reference {reference}): the Jupyter server's log has the details.",
                "hint": None,
            }
            job.state = "failed"
        finally:
            job.ended = time.time()
            job.future.set_result(None)


class ReproductionRunningError(MlopsError):
    """A reproduction of the same model version or run has not ended yet."""

    status = 409


def _describe(target: dict[str, str]) -> str:
    if "run_id" in target:
        return f"Run {target['run_id']}"
    return f"Model {target['model']!r} version {target['version']}"


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _result(report: dict[str, Any]) -> dict[str, Any]:
    """The reproduce core's report as JSON without NaN (a metric can be NaN)."""
    report["metrics"] = [{k: _finite(v) for k, v in row.items()} for row in report["metrics"]]
    report["record"] = {k: v for k, v in report["record"].items() if k != "parameters"}
    return report


def options(request: dict[str, Any]) -> dict[str, Any]:
    """A ReproduceRequest body checked and turned into ReproduceOptions fields."""
    from mlops_nb.pipelines.recorded_data import MODES

    fields(request, _OPTIONS)
    found: dict[str, Any] = {}
    tolerance = request.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < math.inf:
        raise UsageError(
            f"tolerance must be a number of 0 or more, not {tolerance!r}.", hint="0 means exact."
        )
    found["tolerance"] = float(tolerance)
    data = request.get("data", "auto")
    if data not in MODES:
        raise UsageError(f"data {data!r} is not a data mode.", hint=f"Use one of {', '.join(MODES)}.")
    found["data"] = data
    for flag in ("allow_data_change", "strict_env"):
        value = request.get(flag, False)
        if not isinstance(value, bool):
            raise UsageError(f"{flag} must be true or false, not {value!r}.")
        found[flag] = value
    return found


class _JobsHandler(ModelHandler):
    @property
    def jobs(self) -> Jobs:
        return self.context.reproductions


class _StartHandler(_JobsHandler):
    """Starts a reproduction (the reproduce core uses the server process's project: see ModelHandler)."""

    def start(self, target: dict[str, str]) -> dict[str, Any]:
        request = self.json_body('{"tolerance": 0, "data": "auto"}')
        found = options(request)
        self.same_store()
        client = store.client(self.store_settings)
        if "run_id" in target:
            with checks.translated(f"run {target['run_id']}"):
                client.get_run(target["run_id"])
        else:
            with checks.translated(f"model {target['model']!r} version {target['version']}"):
                client.get_model_version(target["model"], target["version"])
        return self.jobs.start(target, found).to_dict()


class ReproduceModelVersionHandler(_StartHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        await self.answer(
            lambda: self.start({"model": models.model_name(name), "version": models.version_number(version)})
        )


class ReproduceRunHandler(_StartHandler):
    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        await self.answer(lambda: self.start({"run_id": checks.run_id(run_id)}))


class ReproductionsHandler(_JobsHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(lambda: {"jobs": [job.to_dict() for job in self.jobs.every()]})


class ReproductionHandler(_JobsHandler):
    allowed_arguments = frozenset({"wait"})

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        try:
            self.check_arguments()
            wait = self.number("wait", 0.0, MAX_WAIT)
            job = self.jobs.get(job_id)
        except MlopsError as exc:
            self.refuse(exc)
            return
        if wait > 0 and not job.future.done():
            with contextlib.suppress(TimeoutError):  # still running after the wait: answer its state
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)), wait)
        await self.answer(job.to_dict)


ROUTES: list[tuple[str, type[ModelHandler]]] = [
    (r"models/([^/]+)/versions/([^/]+)/reproduce", ReproduceModelVersionHandler),
    (r"runs/([^/]+)/reproduce", ReproduceRunHandler),
    (r"reproductions", ReproductionsHandler),
    (r"reproductions/([^/]+)", ReproductionHandler),
]
