"""Stopping a pipeline run in progress from another thread (a sweep point whose sweep was interrupted).

A `Cancellation` is shared by the runner, which checks it before each step, and by the notebook
execution, which registers a callback that kills its kernel; `cancel()` runs the callbacks at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancellation:
    """A stop request, set once, with callbacks run when it is set (at once if it already is)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._set = False

    def cancel(self) -> None:
        """Ask the run to stop: runs every registered callback."""
        with self._lock:
            self._set = True
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def is_set(self) -> bool:
        """True once `cancel()` was called."""
        return self._set

    def check(self, before: str) -> None:
        """Raise KeyboardInterrupt (the run ends KILLED) if the run was cancelled."""
        if self._set:
            raise KeyboardInterrupt(f"cancelled before {before}")

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when cancelled (now, if already); returns the function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)
            already = self._set
        if already:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove
