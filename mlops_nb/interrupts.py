"""Interruptions held back while a write that must be complete or absent runs.

`deferred_signals()` wraps a critical section (a model version with its lineage and alias, an alias move
with its record, and the cleanup that undoes either): SIGINT and SIGTERM received meanwhile are recorded,
not acted on, and delivered once the section has ended, so neither a first signal nor a second one
during the cleanup can leave half a write behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

_HELD = (signal.SIGINT, signal.SIGTERM)


_received: list[int] | None = None  # signals held by the outermost section in progress (main thread)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first one received to the handler
    that was in place (Ctrl-C's KeyboardInterrupt, `mlops-nb`'s SIGTERM handler, or the default action).

    Nested sections hold signals until the outermost one ends. Signals reach only the main thread, so in
    another thread this does nothing.
    """
    global _received
    if threading.current_thread() is not threading.main_thread() or _received is not None:
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum)) for sig in _HELD}
    _received = received
    try:
        yield
    finally:
        _received = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler: object) -> None:
    """Act on a held signal as its handler would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)  # the default action (SIGTERM ends the process), no handler left
