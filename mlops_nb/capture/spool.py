"""Spool files: metric points the store did not take, kept on disk until it does.

A spool is one run's file of JSON lines, ``<run id>.jsonl``, oldest point first. It has an owner: the
process whose writer appends to it holds an exclusive lock on the sidecar ``<run id>.lock`` while that
writer lives, so a replay elsewhere (``%mlops track`` in another kernel) leaves it alone. The lock is on the
sidecar, a stable path, because a rewrite replaces the spool file itself: it writes a temporary file in the
same folder, fsyncs it and renames it over the spool, so a kill at any moment leaves the old or the new file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BATCH = 1000  # MLflow's log_batch limit for metrics
Point = tuple[str, float, int, int]  # key, value, timestamp (ms), step
Sink = Callable[[list[Point]], None]


class Spool:
    """One run's spool file and its owner lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")
        self._lock_fd: int | None = None

    @property
    def owned(self) -> bool:
        """Whether this object holds the owner lock."""
        return self._lock_fd is not None

    def own(self, wait: float = 0.0) -> bool:
        """Take the owner lock, waiting up to `wait` seconds for another owner; False when it stays taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
                continue
            if _same_file(fd, self.lock_path):
                self._lock_fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._remove_temporaries()
                return True
            os.close(fd)  # its owner removed that lock file on release: lock the one now at the path

    def release(self) -> None:
        """Give up ownership (removing the lock file while still holding it, so nobody is left locking a
        file that no longer has a name)."""
        if self._lock_fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock_path)
        os.close(self._lock_fd)
        self._lock_fd = None

    def owner(self) -> str:
        """The pid recorded by the spool's owner, for messages."""
        try:
            return self.lock_path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def count(self) -> int:
        """Lines (points) in the spool file."""
        try:
            with self.path.open("rb") as handle:
                return sum(1 for _ in handle)
        except FileNotFoundError:
            return 0

    def append(self, points: list[Point]) -> None:
        """Append points, all or none: a failed write is cut off again, so no torn line is left behind."""
        data = "".join(json.dumps(point) + "\n" for point in points).encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            end = os.fstat(fd).st_size
            if end and os.pread(fd, 1, end - 1) != b"\n":  # a line torn by a crash: end it first
                data = b"\n" + data
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)

    def read(self) -> tuple[list[Point], int]:
        """The spooled points (torn lines skipped) and the size read, for `rewrite`."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        points = [point for line in data.splitlines() if (point := _point(line)) is not None]
        return points, len(data)

    def rewrite(self, points: list[Point], since: int) -> int:
        """Atomically replace the file by `points` followed by whatever was appended after byte `since`;
        returns the points left (the file is removed when none are)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(since)
                tail = handle.read()
        except FileNotFoundError:
            tail = b""
        data = "".join(json.dumps(point) + "\n" for point in points).encode() + tail
        if not data:
            self.path.unlink(missing_ok=True)
            return 0
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_folder(self.path.parent)
        return data.count(b"\n")

    def _remove_temporaries(self) -> None:
        """Temporary files of a rewrite that was killed before its rename (the spool itself is intact)."""
        for stale in self.path.parent.glob(f".{self.path.stem}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def write(sink: Sink, points: list[Point]) -> tuple[int, Exception | None]:
    """Write in batches until the first failure; returns how many points were written and that failure."""
    for start in range(0, len(points), BATCH):
        try:
            sink(points[start : start + BATCH])
        except Exception as exc:
            return start, exc
    return len(points), None


def replay(path: Path, sink: Sink) -> int | None:
    """Write the points of a spool file that no live process owns; returns how many were written, None when
    its owner still lives. Points the store does not take stay in the file."""
    spool = Spool(path)
    if not spool.own():
        return None
    try:
        points, size = spool.read()
        done, _ = write(sink, points)
        spool.rewrite(points[done:], since=size)
        return done
    finally:
        spool.release()


def replay_folder(folder: Path, sink_for_run: Callable[[str], Sink]) -> int:
    """Replay every spool in `folder` with no live owner (a spool's name is its run id); returns the points
    written. Lock files left by crashed processes are removed on the way."""
    if not folder.is_dir():
        return 0
    runs = {path.stem for pattern in ("*.jsonl", "*.lock") for path in folder.glob(pattern)}
    return sum(replay(folder / f"{run_id}.jsonl", sink_for_run(run_id)) or 0 for run_id in sorted(runs))


def _point(line: bytes) -> Point | None:
    """A spool line as a point; None for a line torn by a crash while it was appended (unrecoverable)."""
    try:
        key, value, timestamp, step = json.loads(line)
        return str(key), float(value), int(timestamp), int(step)
    except (ValueError, TypeError):
        return None


def _same_file(fd: int, path: Path) -> bool:
    try:
        named, opened = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
