"""Direct, read-only SQL reads of the embedded SQLite store, where MLflow's API reads one run at a time.

Only used when the project's store is a ``sqlite:`` URI; tracking servers go through MlflowClient.
Reads MLflow's own tables (runs, params, tags, metrics) through a read-only connection, in as few queries as
SQLite's limit on bound parameters allows.
"""

from __future__ import annotations

import contextlib
import heapq
import sqlite3
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path

from mlops_nb.config import Settings
from mlops_nb.exceptions import StoreError


def database(settings: Settings) -> Path:
    """The SQLite file of an embedded store."""
    return Path(settings.tracking_uri[len("sqlite:///") :])


@contextlib.contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the store's database."""
    path = database(settings)
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the embedded store {path}: {exc}.") from exc
    try:
        yield conn
    except sqlite3.Error as exc:
        raise StoreError(f"Reading the embedded store {path} failed: {exc}.") from exc
    finally:
        conn.close()


def _chunks(conn: sqlite3.Connection, items: Sequence[str], bound: int = 0) -> Iterator[Sequence[str]]:
    """`items` in slices small enough that a statement binding one slice and `bound` other values stays
    within the connection's limit on bound parameters (999 on SQLite builds before 3.32)."""
    size = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - bound
    if size < 1:
        raise ValueError(f"{bound} bound values leave no room under SQLite's parameter limit")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(chunk: Sequence[str]) -> str:
    return ",".join("?" * len(chunk))


def experiment_counts(conn: sqlite3.Connection) -> dict[str, tuple[int, int, int | None]]:
    """experiment id → (active runs, RUNNING runs, latest start time)."""
    rows = conn.execute(
        "SELECT experiment_id, COUNT(*), SUM(status = 'RUNNING'), MAX(start_time) FROM runs "
        "WHERE lifecycle_stage = 'active' GROUP BY experiment_id"
    )
    return {str(exp): (count, running or 0, latest) for exp, count, running, latest in rows}


def run_count(conn: sqlite3.Connection, experiment_id: str) -> int:
    """Active runs of one experiment."""
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'",
        (int(experiment_id),),
    ).fetchone()
    return count


def runs(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, tuple]:
    """run id → (experiment_id, name, status, start_time, end_time) for the runs that exist and are active."""
    found: dict[str, tuple] = {}
    for chunk in _chunks(conn, run_ids):
        for run_id, *rest in conn.execute(
            "SELECT run_uuid, experiment_id, name, status, start_time, end_time FROM runs "
            f"WHERE lifecycle_stage = 'active' AND run_uuid IN ({_marks(chunk)})",
            chunk,
        ):
            found[run_id] = tuple(rest)
    return found


def key_values(conn: sqlite3.Connection, table: str, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """run id → {key: value} from the ``params`` or ``tags`` table."""
    if table not in ("params", "tags"):
        raise ValueError(table)
    found: dict[str, dict[str, str]] = {run_id: {} for run_id in run_ids}
    for chunk in _chunks(conn, run_ids):
        for run_id, key, value in conn.execute(
            f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({_marks(chunk)})", chunk
        ):
            found[run_id][key] = value
    return found


def latest_metrics(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """run id → {metric key: latest value} (NaN as None)."""
    found: dict[str, dict[str, float | None]] = {run_id: {} for run_id in run_ids}
    for chunk in _chunks(conn, run_ids):
        for run_id, key, value, is_nan in conn.execute(
            f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({_marks(chunk)})",
            chunk,
        ):
            found[run_id][key] = None if is_nan else value
    return found


def metric_points(
    conn: sqlite3.Connection, run_ids: Sequence[str], keys: Sequence[str] | None = None
) -> Iterator[tuple[str, str, int, float | None, int]]:
    """(run id, key, step, value, timestamp) of every point of the runs' metrics (all keys, or only `keys`),
    each run's points together, ordered by key and step (MLflow's index order: SQLite does not sort); NaN
    comes back as None.
    Points of a repeated step come in no particular order: compare their timestamps."""
    if keys is not None and not keys:
        return iter(())
    # `+key` keeps SQLite on the (run_uuid, key, step) index: without statistics it would otherwise pick
    # the primary key, which starts with `key`, and read every run's points of those keys.
    query = (
        "SELECT run_uuid, key, step, CASE WHEN is_nan THEN NULL ELSE value END, timestamp FROM metrics "
        "WHERE run_uuid IN ({}){} ORDER BY run_uuid, key, step"
    )
    if not keys:
        return chain.from_iterable(
            conn.execute(query.format(_marks(chunk), ""), chunk) for chunk in _chunks(conn, run_ids)
        )
    half = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 2
    key_chunks = [keys] if len(keys) <= half else list(_chunks(conn, keys, half))
    widest = max(len(chunk) for chunk in key_chunks)

    def points(runs: Sequence[str]) -> Iterator[tuple[str, str, int, float | None, int]]:
        """The runs' points of every key chunk, merged back into (run, key, step) order."""
        cursors = [
            conn.execute(query.format(_marks(runs), f" AND +key IN ({_marks(chunk)})"), [*runs, *chunk])
            for chunk in key_chunks
        ]
        return cursors[0] if len(cursors) == 1 else heapq.merge(*cursors, key=itemgetter(0, 1, 2))

    return chain.from_iterable(points(chunk) for chunk in _chunks(conn, run_ids, widest))
