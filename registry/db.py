"""The governance database: one SQLAlchemy schema on SQLite (embedded) or PostgreSQL.

The URL comes from ``ZHIJIAN_REGISTRY_DATABASE_URL``; the default is a SQLite file under
``$ZHIJIAN_HOME/registry``. The schema is created and upgraded by Alembic only
(``registry/migrations``), never by ``create_all``, so both backends run the same DDL.

Every write runs in one transaction that first locks what it changes: on PostgreSQL with
``SELECT … FOR UPDATE``, on SQLite by starting write transactions with ``BEGIN
IMMEDIATE`` (SQLite has no row locks, so the database lock serializes writers instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from zhijian.config import env_str, zhijian_home

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(env: Mapping[str, str] | None = None) -> str:
    default = f"sqlite:///{zhijian_home(env) / 'registry' / 'registry.db'}"
    url = env_str("ZHIJIAN_REGISTRY_DATABASE_URL", default, env)
    # One driver for PostgreSQL everywhere: psycopg 3.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **kwargs)
        _sqlite_serialized_writers(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


def _sqlite_serialized_writers(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that later writes can fail to upgrade its lock under
        # concurrency ("database is locked"); taking the write lock up front cannot.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def upgrade(url: str) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


class Database:
    """Engine plus session factory; ``transaction()`` is the unit of every write."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite every transaction of `engine` takes the write lock; reads get an engine
        # of their own so that they never wait for (or hold up) a writer.
        self._reader = self.engine
        if self.engine.dialect.name == "sqlite":
            self._reader = create_engine(url, connect_args={"check_same_thread": False,
                                                            "timeout": 30})
        self._reads = sessionmaker(self._reader, expire_on_commit=False)

    @property
    def postgresql(self) -> bool:
        return is_postgresql(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self._reader.dispose()
