"""Sweep points on a Dask ``distributed`` cluster, and stopping them there.

Cancelling a Dask future does not stop a task already running, so an interrupted sweep also sets a Dask
event named after the sweep run; each point watches it from its worker and, once it is set, stops its
pipeline run (before the next step) and kills its notebook's kernel (see `Cancellation`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mlops_nb.exceptions import UsageError
from mlops_nb.pipelines.cancel import Cancellation


def connect(executor: str) -> Any:
    """A Dask client of the scheduler at ``dask://HOST:PORT``."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise UsageError(
            "--executor dask://... needs the `distributed` package.", hint="pip install 'mlops_nb[dask]'."
        ) from exc
    address = "tcp://" + executor.removeprefix("dask://")
    try:
        return Client(address, timeout=15)
    except OSError as exc:
        raise UsageError(
            f"No Dask scheduler answers at {address}: {exc}.",
            hint="Start one (`dask scheduler`) or fix --executor dask://HOST:PORT.",
        ) from exc


@contextlib.contextmanager
def submitter(executor: str) -> Iterator[Callable[[Callable[..., Any], Any], Any]]:
    """A function submitting ``fn(task)`` to the cluster; leaving the block by an exception (an interrupted
    or failed sweep) stops every point submitted, whether waiting or running."""
    dask = connect(executor)
    submitted: list[tuple[Any, Any]] = []

    def submit(fn: Callable[..., Any], task: Any) -> Any:
        future = dask.submit(fn, task, pure=False)
        submitted.append((future, task))
        return future

    try:
        yield submit
    except BaseException:
        _stop(dask, submitted)
        raise
    finally:
        dask.close()


def _stop(dask: Any, submitted: list[tuple[Any, Any]]) -> None:
    from distributed import Event

    for sweep_run_id in {getattr(task, "sweep_run_id", None) for _, task in submitted} - {None}:
        with contextlib.suppress(Exception):  # an unreachable scheduler has no points left to stop
            Event(_event_name(sweep_run_id), client=dask).set()
    with contextlib.suppress(Exception):
        dask.cancel([future for future, _ in submitted], force=True)


@contextlib.contextmanager
def cancellation(sweep_run_id: str) -> Iterator[Cancellation]:
    """In a point's Dask task: a Cancellation set as soon as its sweep is stopped."""
    from distributed import Event, get_client

    cancel = Cancellation()
    event = Event(_event_name(sweep_run_id), client=get_client())
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if event.wait(timeout=1.0):
                cancel.cancel()
                return

    threading.Thread(target=watch, name="mlops-nb-cancel", daemon=True).start()
    try:
        yield cancel
    finally:
        done.set()


def _event_name(sweep_run_id: str) -> str:
    return f"mlops-nb-cancel-{sweep_run_id}"
