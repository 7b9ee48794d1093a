"""The gateway policy in PostgreSQL, for production: Casbin rules in the ``casbin_rule``
table of casbin-async-sqlalchemy-adapter, put in force without a restart.

What triggers a reload: casbin-postgresql-watcher LISTENs on a channel in a child
process (gateway/policy_listener.py) and reports each NOTIFY over a pipe. The pipe's read
end is registered with the event loop, so a notification wakes the gateway at once and no
thread sits polling. A timer reloads every ``poll_interval_s`` as well, because NOTIFY is
fire-and-forget: one sent while the listener reconnects is lost for good. A reload that
finds the same rules changes nothing, so the decision cache survives the timer.

Rows are checked exactly like policy.csv lines (``authz.parse_rows``). They are read from
the adapter's table as stored rather than through ``Adapter.load_policy``, which joins the
columns with ", " up to the first NULL, splits them again at commas and drops rows whose
ptype the model lacks: a malformed row would be reshaped or vanish instead of refused.
A rule set that fails the check, or a database that cannot be read, leaves the previous
policy in force and is logged.

Drivers: everything here talks psycopg 3 (``postgresql+psycopg``), the platform's
driver. The watcher insists on psycopg2 for its listener, so psycopg2-binary is
installed for that child process alone; we never connect with it ourselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from casbin_async_sqlalchemy_adapter import Adapter, CasbinRule
from postgresql_watcher import PostgresqlWatcher, PostgresqlWatcherChannelSubscriptionTimeoutError
from postgresql_watcher.casbin_channel_subscription import _ChannelSubscriptionMessage
from postgresql_watcher.watcher import POSTGRESQL_CHANNEL_NAME
from sqlalchemy import URL, func, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from gateway import authz
from gateway.authz import Authorizer, PolicyError

log = logging.getLogger(__name__)

# The watcher's own default, so any Casbin tool that announces changes through
# PostgresqlWatcher.update() reaches the gateways too.
CHANNEL: Final = POSTGRESQL_CHANNEL_NAME
ASYNC_DRIVER: Final = "postgresql+psycopg"
TABLE: Final[str] = CasbinRule.__tablename__
_POSTGRES_NAMES: Final = frozenset({"postgresql", "postgres"})
_ROW_VALUES: Final = ("v0", "v1", "v2", "v3", "v4", "v5")
FIRST_RESTART_BACKOFF_S: Final = 1.0
MAX_RESTART_BACKOFF_S: Final = 30.0


class PolicyTableNotEmpty(RuntimeError):
    """seed_from_file refuses to add the default policy on top of existing rules."""


def async_url(database_url: str | URL) -> URL:
    """``postgresql://…`` (any driver, or ``postgres://``) as the psycopg 3 async URL."""
    url = make_url(database_url)
    backend = url.drivername.split("+", 1)[0]
    if backend not in _POSTGRES_NAMES:
        raise ValueError(f"the policy store lives in PostgreSQL, not {backend!r}")
    return url.set(drivername=ASYNC_DRIVER)


def _engine(database_url: str | URL, **options: Any) -> AsyncEngine:
    return create_async_engine(async_url(database_url), **options)


# --- reading and checking rows ------------------------------------------------------------

def _cells(row: Any) -> list[str]:
    values: list[str | None] = [getattr(row, name) for name in _ROW_VALUES]
    while values and values[-1] is None:
        values.pop()
    # A NULL inside the row becomes an empty cell, which the rule check then names.
    return [row.ptype or "", *(value or "" for value in values)]


async def _read_rules(adapter: Adapter) -> list[list[str]]:
    async with adapter.session_local() as session:
        result = await session.execute(select(CasbinRule).order_by(CasbinRule.id))
        rows = [(f"{TABLE} id {row.id}", _cells(row)) for row in result.scalars()]
    return authz.parse_rows(rows)


# --- the listener -------------------------------------------------------------------------

class ListenerError(RuntimeError):
    """The LISTEN process exited before it was listening."""


class _ListenerProcess:
    """What PostgresqlWatcher asks of its subscription process (start, is_alive, pid,
    terminate, join), backed by gateway.policy_listener in a fresh interpreter."""

    def __init__(self, settings: dict[str, Any], pipe: Connection) -> None:
        self._settings = settings
        self._pipe = pipe
        self._popen: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        fd = self._pipe.fileno()
        self._popen = subprocess.Popen([sys.executable, "-m", "gateway.policy_listener"],
                                       stdin=subprocess.PIPE, pass_fds=(fd,), text=True)
        # Our copy of the write end goes, so the read end sees EOF when the child dies.
        self._pipe.close()
        assert self._popen.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # died at once: start() reports it
            self._popen.stdin.write(json.dumps({**self._settings, "fd": fd}) + "\n")
            self._popen.stdin.flush()

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def terminate(self) -> None:
        if self.is_alive():
            assert self._popen is not None
            self._popen.terminate()

    def join(self, timeout: float = 5.0) -> None:
        if self._popen is None:
            return
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
        if self._popen.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._popen.stdin.close()


class _Listener(PostgresqlWatcher):
    """The library's watcher with its listener in gateway.policy_listener rather than a
    multiprocessing child (see there why), and a start that notices the child dying
    instead of waiting out its timeout. Its LISTEN loop, pipe protocol, should_reload and
    stop are the library's own."""

    def _create_subscription_process(self, start_listening: bool = True,
                                     delay: int | None = 0) -> None:
        self._cleanup_connections_and_processes()
        self.parent_conn, write_end = multiprocessing.Pipe(duplex=False)
        self.child_conn = None
        settings = {"host": self.host, "port": self.port, "user": self.user,
                    "password": self.password, "dbname": self.dbname,
                    "channel_name": self.channel_name, "sslmode": self.sslmode,
                    "sslrootcert": self.sslrootcert, "sslcert": self.sslcert,
                    "sslkey": self.sslkey, "delay": delay or 0}
        self.subscription_process = _ListenerProcess(settings, write_end)
        if start_listening:
            self.start()

    def start(self, timeout: float = 20.0) -> None:
        if self.subscription_process is None or self.parent_conn is None:
            self._create_subscription_process(start_listening=False)
        process = self.subscription_process
        if process.is_alive():
            return
        process.start()
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.parent_conn.poll(min(remaining, 0.1)):
                continue
            try:
                message = self.parent_conn.recv()
            except EOFError:
                process.join()
                raise ListenerError(f"policy listener exited with status {process.exitcode} "
                                    "before listening (see its stderr)") from None
            if int(message) == _ChannelSubscriptionMessage.IS_READY:
                return
        raise PostgresqlWatcherChannelSubscriptionTimeoutError(timeout)

    def restart(self) -> None:
        self._create_subscription_process(start_listening=True)

    def is_listening(self) -> bool:
        process = self.subscription_process
        return process is not None and process.is_alive()


def _listener_for(url: URL, channel: str) -> _Listener:
    query = {key: value if isinstance(value, str) else value[-1]
             for key, value in url.query.items()}
    return _Listener(
        host=url.host or query.get("host"), port=url.port or 5432,
        user=url.username, password=url.password, dbname=url.database,
        channel_name=channel, sslmode=query.get("sslmode"),
        sslrootcert=query.get("sslrootcert"), sslcert=query.get("sslcert"),
        sslkey=query.get("sslkey"), logger=logging.getLogger(f"{__name__}.listener"))


# --- the gateway's view -------------------------------------------------------------------

class DatabaseAuthorizer:
    """An Authorizer whose rules live in PostgreSQL, kept current while the gateway runs.

    Use ``.authorizer`` for decisions. ``generation`` counts the rule sets put in force
    (1 after opening); ``last_error`` says why the latest reload failed, or is None."""

    def __init__(self, authorizer: Authorizer, adapter: Adapter, engine: AsyncEngine,
                 url: URL, channel: str, poll_interval_s: float) -> None:
        self.authorizer = authorizer
        self.adapter = adapter
        self.generation = 1
        self.last_error: str | None = None
        self._engine = engine
        self._url = url
        self._channel = channel
        self._poll_interval_s = poll_interval_s
        self._reload_lock = asyncio.Lock()
        # The listener's pipe is not safe to touch from two threads, and close() must not
        # tear it down under a drain running in a worker thread.
        self._listener_lock = threading.Lock()
        self._listener: _Listener | None = None
        self._follower: asyncio.Task[None] | None = None
        self._restart_due = 0.0
        self._restart_backoff_s = FIRST_RESTART_BACKOFF_S
        self._closed = False

    @property
    def listener_pid(self) -> int | None:
        """The LISTEN child process, for operators and tests; None when not running."""
        listener = self._listener
        process = listener.subscription_process if listener is not None else None
        return process.pid if process is not None and process.is_alive() else None

    async def reload(self) -> bool:
        """Read the rules and put them in force; True if they changed. A malformed rule
        set raises PolicyError, a database failure SQLAlchemyError or OSError; either way
        the previous policy stays in force and the failure is logged."""
        async with self._reload_lock:
            try:
                rules = await _read_rules(self.adapter)
                changed = self.authorizer.replace_rules(rules, source=TABLE)
            except (PolicyError, SQLAlchemyError, OSError) as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.error("gateway policy reload failed; the previous policy stays in force: "
                          "%s", self.last_error)
                raise
            self.last_error = None
            if changed:
                self.generation += 1
                log.info("gateway policy reloaded from %s: %d rules, generation %d",
                         TABLE, len(rules), self.generation)
            return changed

    async def _start(self) -> None:
        # LISTEN before the caller sees the authorizer: a change committed after the
        # rules were first read is then either in the reload below or notified.
        self._listener = await asyncio.to_thread(_listener_for, self._url, self._channel)
        await self.reload()
        self._follower = asyncio.create_task(self._follow(), name="gateway-policy-follower")

    async def _follow(self) -> None:
        while True:
            notified = await self._wait_for_notification()
            await asyncio.to_thread(self._tend_listener, notified)
            with contextlib.suppress(PolicyError, SQLAlchemyError, OSError):
                await self.reload()  # failures are logged and kept in last_error

    async def _wait_for_notification(self) -> bool:
        """True when the listener reported something, False after poll_interval_s."""
        listener = self._listener
        pipe = listener.parent_conn if listener is not None else None
        if listener is None or pipe is None or not listener.is_listening():
            # A dead listener's pipe reads as end-of-file at once: wait for the timer, or
            # for the restart to fall due, instead of spinning on it.
            due = self._restart_due - time.monotonic()
            await asyncio.sleep(max(0.0, min(self._poll_interval_s, due)))
            return False
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        fd = pipe.fileno()
        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(ready, self._poll_interval_s)
            return True
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)

    def _tend_listener(self, notified: bool) -> None:
        """Drain what the listener sent, or bring it back if it died (it does when the
        database restarts). Blocking, so it runs in a worker thread."""
        with self._listener_lock:
            listener = self._listener
            if self._closed or listener is None:
                return
            if listener.is_listening():
                if notified:
                    with contextlib.suppress(Exception):  # logged by the library
                        listener.should_reload()
                return
            # Restarted here rather than by should_reload's own path, which sleeps ten
            # seconds in the child first; backoff keeps a down database from a spawn loop.
            if time.monotonic() < self._restart_due:
                return
            log.warning("gateway policy listener stopped (status %s); restarting it",
                        listener.subscription_process.exitcode)
            try:
                listener.restart()
            except Exception as error:  # the library raises bare RuntimeErrors
                # Polling still reloads meanwhile.
                log.error("gateway policy listener failed to restart: %s: %s",
                          type(error).__name__, error)
                self._restart_due = time.monotonic() + self._restart_backoff_s
                self._restart_backoff_s = min(self._restart_backoff_s * 2, MAX_RESTART_BACKOFF_S)
            else:
                self._restart_backoff_s = FIRST_RESTART_BACKOFF_S

    async def close(self) -> None:
        """Stop following the database; the Authorizer keeps its last policy."""
        if self._closed:
            return
        self._closed = True
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await asyncio.to_thread(self._stop_listener)
        await self._engine.dispose()

    def _stop_listener(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                self._listener.stop()  # SIGTERM, then join: the child closes its connection
                self._listener = None

    async def __aenter__(self) -> DatabaseAuthorizer:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()


async def open_database_authorizer(database_url: str, *,
                                   model_path: Path = authz.DEFAULT_MODEL,
                                   poll_interval_s: float = 10.0,
                                   channel: str = CHANNEL) -> DatabaseAuthorizer:
    """Load the rules from ``casbin_rule`` and follow them. Raises PolicyError when the
    stored rules are malformed (there is no previous policy to keep) and SQLAlchemyError
    when the table cannot be read; an empty table is allowed and denies every call."""
    if poll_interval_s <= 0:
        raise ValueError("poll_interval_s must be positive")
    url = async_url(database_url)
    model_text = Path(model_path).read_text(encoding="utf-8")
    # One connection serves the reloads, which never overlap; a spare covers pre-ping.
    engine = _engine(url, pool_size=1, max_overflow=1, pool_pre_ping=True)
    adapter = Adapter(engine)
    try:
        rules = await _read_rules(adapter)
        authorizer = Authorizer.from_rules(model_text, rules, source=TABLE)
    except BaseException:
        await engine.dispose()
        raise
    if not rules:
        log.warning("%s is empty: the gateway denies every call until rules are added "
                    "(seed_from_file loads the default policy)", TABLE)
    store = DatabaseAuthorizer(authorizer, adapter, engine, url, channel, poll_interval_s)
    try:
        await store._start()
    except BaseException:
        await store.close()
        raise
    return store


# --- operators ----------------------------------------------------------------------------

async def notify_policy_changed(database_url: str, *, channel: str = CHANNEL) -> None:
    """Tell every gateway on this database to reload now (after rows were changed)."""
    engine = _engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(select(func.pg_notify(channel, _stamp())))
    finally:
        await engine.dispose()


async def seed_from_file(database_url: str, policy_path: Path = authz.DEFAULT_POLICY, *,
                         channel: str = CHANNEL,
                         service_rows: Sequence[Sequence[str]] | None = None) -> int:
    """Load a policy file (by default the shipped one) and the installed services' access
    lists into an empty ``casbin_rule``, creating the table if needed, and notify the
    gateways; returns the rule count. Raises PolicyError for a malformed file and
    PolicyTableNotEmpty if rules exist."""
    path = Path(policy_path)
    rules = authz.merge_rules(authz.parse_policy(path.read_text(encoding="utf-8"), str(path)),
                              authz.installed_service_rows() if service_rows is None
                              else service_rows)
    engine = _engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(CasbinRule.__table__.create, checkfirst=True)
        async with AsyncSession(engine) as session, session.begin():
            # Two operators seeding at once must not both see an empty table.
            await session.execute(text(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE"))
            existing = await session.scalar(select(func.count()).select_from(CasbinRule))
            if existing:
                raise PolicyTableNotEmpty(f"{TABLE} already holds {existing} rules")
            await Adapter(engine, db_session=session).add_policies("p", "p", rules)
            # Sent at commit, so no gateway reloads before the rows are visible.
            await session.execute(select(func.pg_notify(channel, _stamp())))
    finally:
        await engine.dispose()
    log.info("seeded %s with %d rules from %s", TABLE, len(rules), path)
    return len(rules)


async def add_service_rows(database_url: str, *, channel: str = CHANNEL,
                           service_rows: Sequence[Sequence[str]] | None = None) -> int:
    """Add the installed services' access-list rows that ``casbin_rule`` does not hold yet
    (a service installed after the table was seeded) and notify the gateways; returns how
    many were added. Rows already there, and every operator row, stay as they are."""
    wanted = authz.merge_rules([], authz.installed_service_rows() if service_rows is None
                               else service_rows)
    engine = _engine(database_url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            # One adder at a time, so two cannot both insert the same missing row.
            await session.execute(text(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE"))
            result = await session.execute(select(CasbinRule))
            held = {tuple(_cells(row)[1:]) for row in result.scalars()}
            missing = [rule for rule in wanted if tuple(rule) not in held]
            if missing:
                await Adapter(engine, db_session=session).add_policies("p", "p", missing)
                await session.execute(select(func.pg_notify(channel, _stamp())))
    finally:
        await engine.dispose()
    log.info("added %d service access rows to %s", len(missing), TABLE)
    return len(missing)


def _stamp() -> str:
    return f"gateway policy changed at {time.time():.3f}"
