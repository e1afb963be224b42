"""Faults injected into the metric spool: a spool error, a live owner in another process, a kill mid-rewrite.

Each test injects its fault on purpose and asserts the exact points the store holds afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlops_nb
from mlops_nb import config, store
from mlops_nb.capture.metrics import MetricWriter, sink_for
from mlops_nb.capture.spool import Point
from mlops_nb.exceptions import StoreError


class GatedStore:
    """A real sink into the embedded store that refuses (like a store that went away) while `refusing`."""

    def __init__(self, run_id: str) -> None:
        self.sink = sink_for(config.current(), store.client(), run_id)
        self.refusing = True
        self.batches_left: int | None = None  # batches it takes before it refuses again (None: all)

    def __call__(self, points: list[Point]) -> None:
        if self.refusing or self.batches_left == 0:
            raise StoreError("store refused")
        if self.batches_left is not None:
            self.batches_left -= 1
        self.sink(points)


def _run() -> str:
    return store.client().create_run(store.experiment_id("faults")).info.run_id


def _spool(run_id: str) -> Path:
    return config.current().state_dir / "spool" / f"{run_id}.jsonl"


def _stored(run_id: str, *keys: str) -> set[tuple[str, int, float]]:
    client = store.client()
    return {(key, m.step, m.value) for key in keys for m in client.get_metric_history(run_id, key)}


def _fail_once(exc: Exception):
    """A wrapper for a MetricWriter method that raises `exc` on its first call only."""
    calls = []

    def wrap(method):
        def failing(self, *args):
            calls.append(1)
            if len(calls) == 1:
                raise exc
            return method(self, *args)

        return failing

    return wrap


def _log(writer: MetricWriter, steps: range) -> None:
    for i in steps:
        writer.add({"m": i / 2, "n": -i}, step=i)


def _expected(steps: range) -> set[tuple[str, int, float]]:
    return {("m", i, i / 2) for i in steps} | {("n", i, float(-i)) for i in steps}


@pytest.mark.parametrize(
    "fault",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        RuntimeError("a bug"),
    ],
    ids=["disk-full", "permission", "bug"],
)
def test_a_spool_append_error_keeps_the_points_and_the_writer(
    project: Path, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    run_id = _run()
    sink = GatedStore(run_id)
    monkeypatch.setattr(MetricWriter, "_append_spool", _fail_once(fault)(MetricWriter._append_spool))
    writer = MetricWriter(sink, _spool(run_id), interval=3600)  # rounds only when flushed
    _log(writer, range(5))
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match="could not be spooled.*kept in memory"):
        stats = writer.flush(timeout=60)
    assert time.monotonic() - started < 30  # it did not wait for the timeout
    assert stats.pending == 10 and stats.spooled == 0 and str(fault) in stats.last_error

    _log(writer, range(5, 10))  # the thread lives: the kept points and the new ones go to the spool
    stats = writer.flush(timeout=60)
    assert stats.pending == 0 and stats.spooled == 20
    sink.refusing = False
    writer.close(timeout=60)  # the last round writes the spool
    assert _stored(run_id, "m", "n") == _expected(range(10))
    assert not _spool(run_id).exists()


def test_a_spool_drain_error_keeps_the_points_and_the_writer(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = _run()
    sink = GatedStore(run_id)
    writer = MetricWriter(sink, _spool(run_id), interval=3600)
    _log(writer, range(5))
    assert writer.flush(timeout=60).spooled == 10
    fault = OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(MetricWriter, "_drain_spool", _fail_once(fault)(MetricWriter._drain_spool))
    sink.refusing = False
    _log(writer, range(5, 10))
    with pytest.warns(RuntimeWarning, match="Input/output error"):
        stats = writer.flush(timeout=60)
    assert stats.pending == 10 and stats.spooled == 10  # kept, in order behind the spooled ones
    stats = writer.flush(timeout=60)
    assert stats.pending == 0 and stats.spooled == 0
    assert _stored(run_id, "m", "n") == _expected(range(10))
    writer.close(timeout=60)
    assert not _spool(run_id).exists()


def test_close_does_not_wait_when_points_can_be_neither_written_nor_spooled(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self, points):
        raise OSError(errno.ENOSPC, "No space left on device")

    run_id = _run()
    monkeypatch.setattr(MetricWriter, "_append_spool", disk_full)
    writer = MetricWriter(GatedStore(run_id), _spool(run_id), interval=3600)
    _log(writer, range(3))
    with pytest.warns(RuntimeWarning, match="No space left"):
        writer.flush(timeout=60)
    _log(writer, range(3, 5))
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match=r"10 metric point\(s\) could be neither written nor spooled"):
        stats = writer.close(timeout=60)
    assert time.monotonic() - started < 30
    assert stats.pending == 10 and "No space left" in stats.last_error


def test_a_failed_rewrite_leaves_the_spool_intact(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _run()
    sink = GatedStore(run_id)
    writer = MetricWriter(sink, _spool(run_id), interval=3600)
    _log(writer, range(750))
    assert writer.flush(timeout=60).spooled == 1500
    before = _spool(run_id).read_bytes()
    replace = os.replace

    def replace_fails_once(src: str, dst: Path) -> None:
        monkeypatch.setattr(os, "replace", replace)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", replace_fails_once)
    sink.refusing, sink.batches_left = False, 1  # a partial drain: the rest of the spool is rewritten
    _log(writer, range(750, 760))
    with pytest.warns(RuntimeWarning, match="No space left"):
        assert writer.flush(timeout=60).pending == 20
    assert _spool(run_id).read_bytes() == before
    assert not list(_spool(run_id).parent.glob("*.tmp"))
    sink.batches_left = None
    assert writer.flush(timeout=60).spooled == 0
    writer.close(timeout=60)
    assert _stored(run_id, "m", "n") == _expected(range(760))


WRITER = """
import json, sys
from pathlib import Path
from mlops_nb.capture.metrics import MetricWriter
from mlops_nb.mlflow_internals import sqlite_metric_sink
from mlops_nb.exceptions import StoreError

database, run_id, spool = sys.argv[1:]
real, state = sqlite_metric_sink(Path(database), run_id), {"open": False}

def sink(points):
    if not state["open"]:
        raise StoreError("store refused")
    real(points)

writer = MetricWriter(sink, Path(spool), interval=3600)
for line in iter(sys.stdin.readline, ""):
    command, *args = line.split()
    if command == "log":
        for i in range(int(args[0]), int(args[1])):
            writer.add({"m": i / 2}, step=i)
        stats = writer.flush(timeout=60)
    elif command == "open":
        state["open"] = True
        stats = writer.close(timeout=60)
    print(json.dumps([stats.spooled, stats.written, stats.pending]), flush=True)
"""


def _database() -> str:
    return config.current().tracking_uri[len("sqlite:///") :]


def test_a_live_writers_spool_is_not_replayed_by_another_process(project: Path) -> None:
    run_id = _run()
    spool = _spool(run_id)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, _database(), run_id, str(spool)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(command: str) -> list[int]:
        writer.stdin.write(command + "\n")
        writer.stdin.flush()
        return json.loads(writer.stdout.readline())

    try:
        assert ask("log 0 100") == [100, 0, 0]  # its store refuses: spooled
        before, inode = spool.read_bytes(), spool.stat().st_ino
        mlops_nb.track(experiment="other-kernel", autolog=False)  # replays spools with no live owner
        mlops_nb.stop()
        assert spool.read_bytes() == before and spool.stat().st_ino == inode
        assert _stored(run_id, "m") == set()
        assert ask("log 100 200") == [200, 0, 0]
        assert ask("open") == [0, 200, 0]  # its store answers again: the writer itself writes its spool
    finally:
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0
    assert _stored(run_id, "m") == {("m", i, i / 2) for i in range(200)}
    assert not spool.exists() and not spool.with_suffix(".lock").exists()


KILLED_MID_REWRITE = """
import os, signal, sys, threading
from pathlib import Path
from mlops_nb.capture.metrics import MetricWriter
from mlops_nb.mlflow_internals import sqlite_metric_sink
from mlops_nb.exceptions import StoreError

database, run_id, spool = sys.argv[1:]
folder = os.path.realpath(os.path.dirname(spool))
real, state = sqlite_metric_sink(Path(database), run_id), {"calls": 0, "armed": False}

def kill_at_first_write(frame, event, arg):
    # SIGKILL this process when it first writes to a file in the spool folder after the store failed
    if state["armed"] and event == "c_call" and getattr(arg, "__name__", "") == "write":
        try:
            target = os.readlink(f"/proc/self/fd/{arg.__self__.fileno()}")
        except Exception:
            return
        if os.path.dirname(target) == folder:
            os.kill(os.getpid(), signal.SIGKILL)

def sink(points):  # the first batch is stored, then the store goes away: a partial drain
    state["calls"] += 1
    if state["calls"] > 1:
        state["armed"] = True
        raise StoreError("store went away")
    real(points)

threading.setprofile(kill_at_first_write)
MetricWriter(sink, Path(spool), interval=3600).close(timeout=60)
"""


def test_a_kill_during_the_spool_rewrite_loses_no_point(project: Path) -> None:
    run_id = _run()
    spool = _spool(run_id)
    spool.parent.mkdir(parents=True)
    points = [("m", i / 4, 1000 + i, i) for i in range(2500)]  # three batches
    spool.write_text("".join(json.dumps(p) + "\n" for p in points), encoding="utf-8")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_REWRITE, _database(), run_id, str(spool)], check=False, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL  # it was killed while rewriting the spool
    assert len(_stored(run_id, "m")) == 1000  # the first batch, before the store went away
    assert spool.read_text(encoding="utf-8").count("\n") == 2500  # the old spool, whole

    mlops_nb.track(experiment="next", autolog=False)  # the owner is dead: its spool is replayed
    mlops_nb.stop()
    history = store.client().get_metric_history(run_id, "m")
    assert sorted((m.step, m.timestamp, m.value) for m in history) == [(s, t, v) for _, v, t, s in points]
    assert not spool.exists() and not list(spool.parent.iterdir())  # no temporary file, no lock left
