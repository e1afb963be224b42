"""MLflow's private names and tables that mlops_nb relies on, all in this one module.

Each is used because MLflow's public API has no equivalent (or one that is far slower: the panel reads
thousands of runs, and notebooks write metrics in bulk, straight from the embedded store's SQLite tables).
Each has a canary test (tests/unit/test_mlflow_internals.py) that fails, naming it, when an MLflow release
changes it.
`check_version()` warns once when the installed MLflow is not a release these were checked against.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
import sqlite3
import warnings
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path

from mlops_nb.config import Settings
from mlops_nb.exceptions import StoreError

CHECKED_RELEASES = ("3.17",)  # MLflow major.minor releases whose private names were checked


@functools.cache
def check_version() -> str:
    """MLflow's version; warns (once) when it is not a release whose private names were checked."""
    import mlflow

    release = ".".join(mlflow.__version__.split(".")[:2])
    if release not in CHECKED_RELEASES:
        warnings.warn(
            f"mlops_nb was checked against MLflow {', '.join(CHECKED_RELEASES)}, not {mlflow.__version__}: "
            "run tests/unit/test_mlflow_internals.py to see whether the private names it uses still hold.",
            RuntimeWarning,
            stacklevel=2,
        )
    return mlflow.__version__


def pop_fluent_run(run_id: str) -> None:
    """Drop `run_id` from MLflow's fluent active-run stack without ending the run (`mlflow.end_run()` would
    end it; we end it through the client with our own status)."""
    import mlflow
    from mlflow.tracking import fluent

    check_version()
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        fluent._active_run_stack.get().pop()


def requirement_inference() -> Callable[..., list[str]]:
    """MLflow's function that infers a logged model's requirements (by loading it in a subprocess)."""
    from mlflow.utils import requirements_utils

    check_version()
    return requirements_utils._capture_imported_modules


def replace_requirement_inference(function: Callable[..., list[str]]) -> None:
    """Route MLflow's requirement inference in this process through `function`."""
    from mlflow.utils import requirements_utils

    requirements_utils._capture_imported_modules = function


def warm_package_map() -> None:
    """Fill MLflow's module → package map, which every `log_model` otherwise builds (about 1 s)."""
    from mlflow.utils.requirements_utils import _init_modules_to_packages_map

    _init_modules_to_packages_map()


# --- MLflow's tables in the embedded SQLite store: read-only bulk reads, and the metric writer ---------

_FLOAT_MAX = 1.7976931348623157e308
TABLES = {  # the tables and columns read or written below (checked by the canary tests)
    "runs": ("run_uuid", "experiment_id", "name", "status", "start_time", "end_time", "lifecycle_stage"),
    "params": ("run_uuid", "key", "value"),
    "tags": ("run_uuid", "key", "value"),
    "latest_metrics": ("run_uuid", "key", "value", "timestamp", "step", "is_nan"),
    "metrics": ("run_uuid", "key", "value", "timestamp", "step", "is_nan"),
    "experiments": ("experiment_id",),
}


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


def experiment_exists(conn: sqlite3.Connection, experiment_id: str) -> bool:
    """Whether the experiment exists (active or deleted)."""
    found = conn.execute("SELECT 1 FROM experiments WHERE experiment_id = ?", (int(experiment_id),))
    return found.fetchone() is not None


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


def sqlite_metric_sink(database: Path, run_id: str) -> Callable[[list[tuple[str, float, int, int]]], None]:
    """Write into the embedded store's tables directly, keeping MLflow's semantics: NaN stored as
    ``is_nan`` with value 0, infinities clamped, exact duplicates ignored, ``latest_metrics`` holding the
    point with the greatest (step, timestamp, value). Points are (key, value, timestamp ms, step); about 20x
    faster than ``log_batch``'s ORM path."""
    state: dict[str, sqlite3.Connection] = {}

    def write(points: list[tuple[str, float, int, int]]) -> None:
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = sqlite3.connect(database, timeout=30, check_same_thread=False)
            found = conn.execute("SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
            if not found or found[0] != "active":
                state.pop("conn").close()
                raise StoreError(f"Run {run_id} does not exist or is deleted in {database}.")
        rows, latest = [], {}
        for key, value, timestamp, step in points:
            is_nan = math.isnan(value)
            stored = 0.0 if is_nan else max(-_FLOAT_MAX, min(_FLOAT_MAX, value))
            row = (key, stored, timestamp, run_id, step, int(is_nan))
            rows.append(row)
            best = latest.get(key)
            if best is None or (step, timestamp, stored) > (best[4], best[2], best[1]):
                latest[key] = row
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, "
                "step = excluded.step, is_nan = excluded.is_nan "
                "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
                "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
                list(latest.values()),
            )

    return write


# --- the runs table: one page of an experiment's runs, sorted on any column, in SQL --------------------

PARENT_TAG = "mlflow.parentRunId"  # MLflow's tag naming a run's parent (records.PARENT_RUN_ID)
SORT_FIELDS = {  # attributes the runs table sorts on → their SQL expression
    "run_name": "r.name",
    "status": "r.status",
    "start_time": "r.start_time",
    "end_time": "r.end_time",
    "duration": "(r.end_time - r.start_time)",
}


def _number(value: str | None) -> float | None:
    """A param or tag value read as a number (for numeric sorting), else None."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def run_page(
    conn: sqlite3.Connection,
    experiment_id: str,
    *,
    sort: tuple[str, str, bool] | None,
    offset: int,
    limit: int,
    parent: str | None = None,
    top_level: bool = False,
    status: str | None = None,
    tagged: str | None = None,
) -> tuple[list[str], int]:
    """(run ids of one page, active runs matching in all) of an experiment, newest first unless `sort`.

    `sort` is (kind, key, ascending) with kind ``attributes`` (a SORT_FIELDS key), ``params``, ``metrics`` or
    ``tags``; runs without the value come last, numbers sort as numbers. `parent` keeps the children of that
    run, `top_level` the runs without an active parent in the experiment, `status` one run status, `tagged` the runs carrying that tag.
    """
    where = ["r.experiment_id = ?", "r.lifecycle_stage = 'active'"]
    args: list[object] = [int(experiment_id)]
    if parent is not None:
        where.append("r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)")
        args += [PARENT_TAG, parent]
    if top_level:  # no parent, or one that is deleted or elsewhere: a run no expanded row would show
        where.append(
            "NOT EXISTS (SELECT 1 FROM tags p JOIN runs pr ON pr.run_uuid = p.value WHERE p.run_uuid = r.run_uuid "
            "AND p.key = ? AND pr.lifecycle_stage = 'active' AND pr.experiment_id = r.experiment_id)"
        )
        args.append(PARENT_TAG)
    if status is not None:
        where.append("r.status = ?")
        args.append(status)
    if tagged is not None:
        where.append("EXISTS (SELECT 1 FROM tags g WHERE g.run_uuid = r.run_uuid AND g.key = ?)")
        args.append(tagged)
    condition = " AND ".join(where)
    (total,) = conn.execute(f"SELECT COUNT(*) FROM runs r WHERE {condition}", args).fetchone()
    join, join_args, order = "", [], "r.start_time DESC, r.run_uuid"
    if sort is not None:
        kind, key, ascending = sort
        direction = "ASC" if ascending else "DESC"
        if kind == "attributes":
            expression = SORT_FIELDS[key]
            order = f"{expression} IS NULL, {expression} {direction}, r.run_uuid"
        elif kind == "metrics":
            join = "LEFT JOIN latest_metrics s ON s.run_uuid = r.run_uuid AND s.key = ?"
            order = f"s.value IS NULL OR s.is_nan, s.value {direction}, r.run_uuid"
            join_args = [key]
        else:
            conn.create_function("mlops_nb_number", 1, _number, deterministic=True)
            join = f"LEFT JOIN {'params' if kind == 'params' else 'tags'} s ON s.run_uuid = r.run_uuid AND s.key = ?"
            order = (
                f"s.value IS NULL, mlops_nb_number(s.value) IS NULL, mlops_nb_number(s.value) {direction}, "
                f"s.value {direction}, r.run_uuid"
            )
            join_args = [key]
    ids = [
        run_id
        for (run_id,) in conn.execute(
            f"SELECT r.run_uuid FROM runs r {join} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
            [*join_args, *args, limit, offset],
        )
    ]
    return ids, total


def child_counts(conn: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, int]:
    """run id → number of active child runs, for the runs that have any."""
    found: dict[str, int] = {}
    for chunk in _chunks(conn, run_ids, 1):
        for parent, count in conn.execute(
            "SELECT t.value, COUNT(*) FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
            f"WHERE t.key = ? AND r.lifecycle_stage = 'active' AND t.value IN ({_marks(chunk)}) GROUP BY t.value",
            [PARENT_TAG, *chunk],
        ):
            found[parent] = count
    return found


def experiment_keys(conn: sqlite3.Connection, experiment_id: str, table: str) -> list[str]:
    """The keys of ``params``, ``latest_metrics`` or ``tags`` that some active run of the experiment has.

    The distinct keys are walked on the (key, run_uuid) primary key one jump per key (a loose index scan), and
    each kept when one active run of the experiment has it: no pass over every row of the table."""
    if table not in ("params", "latest_metrics", "tags"):
        raise ValueError(table)
    return [
        key
        for (key,) in conn.execute(
            f"WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM {table} UNION ALL "
            f"SELECT (SELECT MIN(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL) "
            f"SELECT key FROM k WHERE key IS NOT NULL AND EXISTS (SELECT 1 FROM {table} t "
            "JOIN runs r ON r.run_uuid = t.run_uuid WHERE t.key = k.key AND r.experiment_id = ? "
            "AND r.lifecycle_stage = 'active')",
            (int(experiment_id),),
        )
    ]
