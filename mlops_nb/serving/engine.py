"""The online server's work, independent of the web framework: route, parse, predict, answer, log, count.

Every answer carries X-Model-Version and X-Request-Id. Predictions take a numpy fast path when the version
has one and the rows are complete, else MLflow's pyfunc with its schema enforcement. The shadow variant is
scored on its own thread after the answer is made; its queue is bounded, so it never delays an answer.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mlops_nb.exceptions import MlopsError
from mlops_nb.serving import protocol
from mlops_nb.serving.feedback import BanditCredit, FeedbackStore
from mlops_nb.serving.follower import Follower, Served
from mlops_nb.serving.inference_log import InferenceLog, now_us
from mlops_nb.serving.options import ServeOptions
from mlops_nb.serving.routing import MAIN, SHADOW, Router
from mlops_nb.serving.webhook import WebhookVerifier

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_SHADOW_QUEUE = 256
_CODES = {400: "BAD_REQUEST", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    media: str = "application/json"


@dataclass
class Call:
    """One request being answered: its id, arrival (us since the epoch), start (perf counter), version."""

    request_id: str
    ts: int
    start: float
    served: Served
    alias: str
    variant: str

    @property
    def version(self) -> str:
        return self.served.model.version

    def headers(self) -> dict[str, str]:
        return {"X-Model-Version": self.version, "X-Request-Id": self.request_id}


def _reason(message: str) -> str:
    """The cause in a model's error, without the rows MLflow's schema errors repeat ("Failed to enforce
    schema of data '<the rows>' with schema '...'. Error: <cause>")."""
    _, marker, cause = message.partition("'. Error: ")
    text = cause if marker else message
    return text.strip().splitlines()[0] if text.strip() else ""


class ModelError(MlopsError):
    """The model raised on a request's rows."""


class Engine:
    """One server process's state: followed versions, router, logs, counters."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.plan = options.plan
        self.router = Router(options.plan, seed=options.seed)
        self.follower = Follower(
            options.model,
            options.plan.aliases(),
            poll_seconds=options.poll_seconds,
            where=options.where,
            shares=options.plan.shares,
        )
        self.log = InferenceLog(options.log_dir) if options.log else None
        self.feedback_store = FeedbackStore(options.feedback_dir)
        self.webhooks = WebhookVerifier(options.webhook_secret)
        self.counts: Counter[str] = Counter()
        self.served_by: Counter[str] = Counter()
        self.ready = False
        self.started = time.time()
        self._shadow = ThreadPoolExecutor(1, thread_name_prefix="shadow") if options.plan.shadow else None
        self._shadow_pending = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        self.follower.start()
        gc.freeze()  # the loaded libraries and model stay out of every later collection: much shorter pauses
        self.ready = True
        parent = multiprocessing.parent_process()  # uvicorn's server process, when this is one of its workers
        if parent is not None and parent.pid is not None:
            threading.Thread(target=self._watch_parent, args=(parent.pid,), daemon=True).start()
            if self.router.bandit is not None:
                credit = BanditCredit(self.router.bandit, self.options.feedback_dir)
                threading.Thread(target=credit.run, args=(lambda: not self.ready,), daemon=True).start()

    def _watch_parent(self, parent: int) -> None:
        """A worker whose server process died (kill -9) stops itself as on Ctrl-C, flushing its log, instead
        of living on as an orphan that holds the port."""
        while self.ready:
            if os.getppid() != parent:
                log.error("the server process %s is gone; this worker (%s) stops", parent, os.getpid())
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(1.0)

    def stop(self) -> None:
        self.ready = False
        if self._shadow is not None:
            self._shadow.shutdown(wait=True)
        self.follower.stop()
        if self.log is not None:
            self.log.close()
        self.feedback_store.close()

    # ------------------------------------------------------------------ scoring

    def request_id(self, given: str | None) -> str:
        return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex

    def invoke(self, body: bytes, content_type: str | None, given_id: str | None) -> Reply:
        """Score one /invocations request."""
        request_id = self.request_id(given_id)
        variant, alias = self.router.route(request_id)
        call = Call(request_id, now_us(), time.perf_counter(), self.follower.get(alias), alias, variant)
        try:
            batch = protocol.parse(body, content_type, call.served.model.columns)
            predictions = self.predict(call.served, batch)
            answer = protocol.encode({"predictions": protocol.jsonable(predictions)})
        except MlopsError as exc:
            return self._failed(exc, call)
        self.served_by[f"{alias}:{call.version}"] += 1
        self.counts["ok"] += 1
        flags = call.served.domain.flags(batch.columns, batch.n) if not call.served.domain.empty else None
        if flags is not None and any(flags):
            self.counts["ood_requests"] += 1
            self.counts["ood_rows"] += sum(1 for row in flags if row)
        if self.log is not None:
            self._log_rows(call, batch, predictions, flags)
        if self._shadow is not None:
            self._shadow_copy(body, content_type, call)
        return Reply(200, answer, call.headers())

    def predict(self, served: Served, batch: protocol.Batch) -> Any:
        model = served.model
        try:
            if model.fast is not None and len(batch.columns) == len(model.columns) and not batch.params:
                matrix = np.array(list(batch.columns.values()), dtype=np.float64).T
                if not np.isnan(matrix).any():
                    batch.matrix = matrix
                    return model.predict_matrix(matrix)
            import pandas as pd

            return model.predict_frame(pd.DataFrame(batch.columns), params=batch.params)
        except MlopsError:
            raise
        except Exception as exc:
            text = _reason(str(exc))
            raise ModelError(
                f"The model could not score the rows: {type(exc).__name__}: {text[:300]}"
            ) from None

    def reject(self, error: MlopsError, given_id: str | None) -> Reply:
        """An answer for a request refused before its body was read (too large)."""
        alias = self.plan.bandit[0] if self.plan.bandit else self.plan.alias
        served = self.follower.get(alias)
        call = Call(self.request_id(given_id), now_us(), time.perf_counter(), served, alias, MAIN)
        return self._failed(error, call)

    def _failed(self, error: MlopsError, call: Call) -> Reply:
        status = error.status if error.status in _CODES else 400
        self.counts[f"error_{status}"] += 1
        self.counts["errors"] += 1
        if self.log is not None:
            self.log.append(
                [{**self._common(call), "row": 0, "status": "error", "error": error.message[:500]}]
            )
        return Reply(status, protocol.error_body(error, _CODES.get(status, "BAD_REQUEST")), call.headers())

    def _common(self, call: Call) -> dict[str, Any]:
        return {
            "request_id": call.request_id,
            "ts": call.ts,
            "model_name": self.options.model,
            "model_version": call.version,
            "alias": call.alias,
            "variant": call.variant,
            "source": "rest",
            "latency_ms": (time.perf_counter() - call.start) * 1000,
            "ood_count": 0,
        }

    def _log_rows(
        self, call: Call, batch: protocol.Batch, predictions: Any, flags: list[list[str]] | None
    ) -> None:
        """Hand the request's rows to the log as they are (its lists, or its float matrix when every input
        is a double): the log's thread builds the Arrow arrays, values shared by the rows travel once. A
        one-row request is all shared values: dicts of atoms, which the garbage collector does not track."""
        n = batch.n
        common = {**self._common(call), "status": "ok", "error": None}
        if batch.params:
            common["params"] = orjson.dumps(batch.params, default=str).decode()
        model = call.served.model
        matrix = None
        if batch.matrix is not None and model.logged_matrix is not None:
            matrix = (model.logged_matrix, batch.matrix)
            columns: dict[str, list[Any]] = {}
        elif n == 1:
            common.update({f"in.{name}": cells[0] for name, cells in batch.columns.items()})
            columns = {}
        else:
            columns = {f"in.{name}": cells for name, cells in batch.columns.items()}
        predicted = protocol.per_row(predictions, n)
        if n == 1:
            common.update(row=0, prediction=predicted[0], ood=tuple(flags[0]) if flags else ())
            if flags:
                common["ood_count"] = len(flags[0])
        else:
            columns.update(row=list(range(n)), prediction=predicted)
            if flags is None:
                common["ood"] = ()
            else:
                columns["ood"] = flags
                columns["ood_count"] = [len(row) for row in flags]
        self.log.append_columns(common, columns, n, matrix=matrix)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ shadow

    def _shadow_copy(self, body: bytes, content_type: str | None, call: Call) -> None:
        with self._lock:
            if self._shadow_pending >= _SHADOW_QUEUE:
                self.counts["shadow_dropped"] += 1
                return
            self._shadow_pending += 1
        self._shadow.submit(self._score_shadow, body, content_type, call)  # type: ignore[union-attr]

    def _score_shadow(self, body: bytes, content_type: str | None, main: Call) -> None:
        alias = self.plan.shadow or ""
        try:
            call = Call(
                main.request_id, main.ts, time.perf_counter(), self.follower.get(alias), alias, SHADOW
            )
            try:
                batch = protocol.parse(body, content_type, call.served.model.columns)
                predictions = self.predict(call.served, batch)
            except MlopsError as exc:
                self.counts["shadow_errors"] += 1
                if self.log is not None:
                    self.log.append(
                        [{**self._common(call), "row": 0, "status": "error", "error": exc.message[:500]}]
                    )
                return
            self.counts["shadow_ok"] += 1
            if self.log is not None:
                domain = call.served.domain
                flags = domain.flags(batch.columns, batch.n) if not domain.empty else None
                self._log_rows(call, batch, predictions, flags)
        except Exception:
            self.counts["shadow_errors"] += 1
            log.exception("shadow scoring failed")
        finally:
            with self._lock:
                self._shadow_pending -= 1

    # ------------------------------------------------------------------ other routes

    def feedback(self, body: bytes) -> Reply:
        """POST /feedback: one record or a list, each with request_id and reward and/or label."""
        try:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise protocol.BadInputError(f"The body is not valid JSON ({exc.msg}).") from None
            stored = self.feedback_store.append(data, unit_rewards=self.router.bandit is not None)
        except MlopsError as exc:
            self.counts["feedback_errors"] += 1
            return Reply(400, protocol.error_body(exc, "BAD_REQUEST"))
        credited = 0
        if self.router.bandit is not None:
            for record in stored:
                if record["reward"] is not None and self.router.bandit.reward(
                    record["request_id"], record["reward"]
                ):
                    credited += 1
        self.counts["feedback"] += len(stored)
        return Reply(200, protocol.encode({"accepted": len(stored), "bandit_credited": credited}))

    def webhook(self, body: bytes, headers: dict[str, str]) -> Reply:
        """POST /webhooks/mlflow: a signed MLflow registry event; an alias event of our model wakes the
        follower (which reads the registry itself: the payload only says when to look)."""
        try:
            event = self.webhooks.verify(body, headers)
        except MlopsError as exc:
            self.counts["webhook_rejected"] += 1
            return Reply(exc.status, protocol.error_body(exc, "PERMISSION_DENIED"))
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        relevant = event.get("entity") == "model_version_alias" and data.get("name") == self.options.model
        if relevant:
            self.counts["webhook_alias_events"] += 1
            self.follower.wake()
        return Reply(200, protocol.encode({"received": True, "relevant": relevant}))

    def versions(self) -> dict[str, Any]:
        shares = self.plan.shares()
        bandit = self.router.bandit.state() if self.router.bandit else {}
        entries = []
        for alias, slot in self.follower.slots.items():
            served = slot.served
            entry: dict[str, Any] = {
                "alias": alias,
                "variant": slot.variant,
                "version": served.model.version if served else None,
                "share": bandit.get(alias, {}).get("share", shares.get(alias, 0.0)),
                "requests": self.served_by.get(f"{alias}:{served.model.version}", 0) if served else 0,
            }
            if alias in bandit:
                entry["bandit"] = bandit[alias]
            if slot.failed:
                entry["not_swapped_in"] = dict(slot.failed)
            if slot.problem:
                entry["not_followed"] = slot.problem
            entries.append(entry)
        return {
            "model": self.options.model,
            "worker": os.getpid(),  # a bandit's pulls and rewards are this worker's own
            "versions": entries,
            "plan": self.plan.to_dict(),
        }

    def health(self) -> dict[str, Any]:
        log_errors = self.log.errors if self.log is not None else 0
        return {
            "status": "ready" if self.ready else "starting",
            "model": self.options.model,
            "worker": os.getpid(),  # counts are this worker's own
            "uptime_s": round(time.time() - self.started, 3),
            "counts": dict(self.counts),
            "swaps": self.follower.swaps,
            "load_failures": self.follower.load_failures,
            "log_write_errors": log_errors,
        }
