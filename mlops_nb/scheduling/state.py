"""The scheduler's state database: schedules, their next fire time, every firing (the trigger history, the
claims and the running runs) and the live schedulers. Nothing the scheduler knows lives only in memory.

SQLite beside the tracking store by default (``<project>/.mlops/scheduler.db``); the tracking store's own
database when it is one (PostgreSQL, MySQL); any SQLAlchemy URL given by ``scheduler_db`` in
``[tool.mlops_nb]`` or ``MLOPS_NB_SCHEDULER_DB``. Tables are prefixed ``mlops_nb_`` so they can share a
database with MLflow. Exactly-once rests on two database rules: a firing is one row, unique per
(schedule, fire time), and a claim is an UPDATE that only succeeds while the row is unclaimed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlops_nb import config, store
from mlops_nb.exceptions import ConfigError, NotFoundError

# Firing states. pending: raised, not yet claimed; claimed: a scheduler will launch it; running: its run
# runs; then finished, failed (the run failed or could not start), abandoned (its scheduler died),
# killed (its scheduler was stopped), skipped (a missed firing a catch-up policy left out).
PENDING, CLAIMED, RUNNING = "pending", "claimed", "running"
FINISHED, FAILED, ABANDONED, KILLED, SKIPPED = "finished", "failed", "abandoned", "killed", "skipped"
CATCHUP_POLICIES = ("none", "one", "all")

metadata = sa.MetaData()

schedules = sa.Table(
    "mlops_nb_schedules",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline", sa.String(256), nullable=False),  # the pipeline's name
    sa.Column("pipeline_file", sa.Text),  # its working copy (data source, --working-copy runs)
    sa.Column("env", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),  # JSON settings of the trigger
    sa.Column("watch", sa.Text),  # JSON: a data trigger's baseline and last observation
    sa.Column("catchup", sa.String(8), nullable=False),
    sa.Column("working_copy", sa.Boolean, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("next_fire", sa.DateTime),  # UTC; None for data and event triggers
    sa.Column("created", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.String(128)),
    sa.Column(
        "declared", sa.Text
    ),  # the pipeline file's trigger it comes from (`schedule sync`); None: added
)

firings = sa.Table(
    "mlops_nb_firings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.String(32), nullable=False, index=True),
    sa.Column("fire_time", sa.DateTime, nullable=False),  # UTC
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("evidence", sa.Text),  # JSON
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("claimed_by", sa.String(64)),  # scheduler id
    sa.Column("claimed_at", sa.DateTime),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_started", sa.Float),  # the process's start time, so a reused pid is not taken for it
    sa.Column("run_id", sa.String(64)),  # the MLflow pipeline run
    sa.Column("release", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("started", sa.DateTime),
    sa.Column("ended", sa.DateTime),
    sa.Column("log", sa.Text),
    sa.UniqueConstraint("schedule_id", "fire_time", name="mlops_nb_firing_once"),
)

schedulers = sa.Table(
    "mlops_nb_schedulers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pid_started", sa.Float, nullable=False),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("heartbeat", sa.DateTime, nullable=False),
)

_engines: dict[str, sa.Engine] = {}


def database_url(settings: config.Settings | None = None) -> str:
    """The state database's SQLAlchemy URL: the configured one, the tracking store's database when it is
    not SQLite, else ``sqlite:///<project>/.mlops/scheduler.db``."""
    settings = settings or config.current()
    if settings.scheduler_db:
        return settings.scheduler_db
    uri = settings.tracking_uri
    if uri.split(":", 1)[0].split("+", 1)[0] in {"postgresql", "mysql", "mssql"}:
        return uri
    return f"sqlite:///{settings.state_dir / 'scheduler.db'}"


def _sqlite_file(url: sa.URL) -> Path | None:
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def engine(settings: config.Settings | None = None) -> sa.Engine:
    """The (cached) engine of the state database, its tables created."""
    url = database_url(settings)
    if url in _engines:
        return _engines[url]
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"scheduler_db {url!r} is not a database URL.",
            hint="Give a SQLAlchemy URL such as postgresql://user@host/db, or leave it unset.",
        ) from exc
    path = _sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        made = sa.create_engine(parsed, connect_args={"timeout": 60})
        sa.event.listen(made, "connect", _sqlite_connect)
        sa.event.listen(made, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        with store.file_lock(path.with_name(path.name + ".lock")):
            metadata.create_all(made)
    else:
        made = sa.create_engine(parsed, pool_pre_ping=True)
        try:
            metadata.create_all(made)
        except sa.exc.SQLAlchemyError:  # another scheduler created them at the same moment
            metadata.create_all(made)
    _engines[url] = made
    return made


def _sqlite_connect(connection: Any, record: Any) -> None:
    """Transactions are begun by us (BEGIN IMMEDIATE: a writer waits for the lock instead of failing when
    two schedulers write at once); WAL lets readers go on meanwhile."""
    connection.isolation_level = None
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=60000")


@contextlib.contextmanager
def transaction(settings: config.Settings | None = None) -> Iterator[sa.Connection]:
    """One transaction on the state database (committed on success, rolled back on error)."""
    with engine(settings).begin() as connection:
        yield connection


def now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def db_time(moment: datetime | None) -> datetime | None:
    """A time as the database stores it: naive UTC."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def from_db(moment: datetime | None) -> datetime | None:
    """A time read from the database, as an aware UTC datetime."""
    return None if moment is None else moment.replace(tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 text of a time, in UTC (what the run's fire-time tag holds)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def schedule_row(connection: sa.Connection, schedule_id: str) -> sa.Row:
    """The schedule `schedule_id`; NotFoundError when there is none."""
    row = connection.execute(sa.select(schedules).where(schedules.c.id == schedule_id)).first()
    if row is None:
        raise NotFoundError(
            f"No schedule {schedule_id!r}.", hint="`mlops-nb schedule list` shows the schedules."
        )
    return row


def loads(text: str | None) -> Any:
    """A JSON column's value (None stays None)."""
    return None if text is None else json.loads(text)


def dumps(value: Any) -> str:
    """A value as a JSON column holds it (keys sorted, so equal values compare equal as text)."""
    return json.dumps(value, sort_keys=True, default=str)
