"""The gateway policy in PostgreSQL (gateway.policy_store) against a real server: rows
seeded from the shipped policy.csv, changed the way an operator would, announced with
NOTIFY and picked up by a gateway that never restarts.

Each test gets a database of its own (LISTEN/NOTIFY channels are per database, so
parallel runs do not hear each other), dropped afterwards. Under CI=true an unreachable
PostgreSQL fails the run instead of skipping it, as in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, LiteralString

import psycopg
import pytest
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy.ext.asyncio import create_async_engine

from gateway import authz, policy_store
from gateway.authz import Authorizer, PolicyError
from gateway.policy_store import DatabaseAuthorizer, PolicyTableNotEmpty
from zhijian.classify.v1 import classify_service_pb2
from zhijian.extract.v1 import extract_service_pb2
from zhijian.orchestrator.v1 import orchestrator_service_pb2
from zhijian.registry.v1 import registry_service_pb2
from zhijian.risk.v1 import risk_service_pb2

REPO = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("ZHIJIAN_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/test")

CLASSIFY = "/zhijian.classify.v1.ClassifyService/Classify"
GET_FILING = "/zhijian.registry.v1.RegistryService/GetFiling"
# Long enough that only a NOTIFY can explain a reload within a test.
NEVER_S = 3600.0

ROLE_SETS = [frozenset(s) for s in (
    (), ("business_system",), ("reviewer",), ("model_developer",), ("validator",),
    ("platform_admin",), ("sre",), ("auditor",), ("service",), ("nobody",),
    ("platform_admin", "sre"), ("reviewer", "business_system"),
    # service's extranet deny overrides platform_admin's extranet allows
    ("platform_admin", "service"), ("auditor", "service"), ("model_developer", "validator"))]


def _methods() -> list[str]:
    methods = [f"/{service.full_name}/{method.name}"
               for module in (classify_service_pb2, extract_service_pb2,
                              orchestrator_service_pb2, registry_service_pb2, risk_service_pb2)
               for service in module.DESCRIPTOR.services_by_name.values()
               for method in service.methods]
    # Names no caller should get through, whatever the store says.
    return [*methods, "/zhijian.registry.v1.RegistryService/Get/../ApproveFiling",
            "/unknown.v1.Service/Do", "ClassifyService/Classify"]


@pytest.fixture
def database(postgres_url: str) -> str:
    """A database of the test's own (tests/conftest.py): LISTEN/NOTIFY is per database."""
    return postgres_url


def sql(url: str, statement: LiteralString, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def backends(url: str) -> int:
    """Connections to the test database (the admin queries come from another one)."""
    name = url.rsplit("/", 1)[1]
    rows = sql(ADMIN_URL, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", name)
    return int(rows[0][0])


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def operator_adds(url: str, rule: list[str]) -> None:
    """What an operator does: a row through the Casbin adapter, from another process's
    point of view (its own engine), not through the gateway's store."""
    engine = create_async_engine(policy_store.async_url(url))
    try:
        await Adapter(engine).add_policy("p", "p", rule)
    finally:
        await engine.dispose()


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def run(scenario: Callable[[], Coroutine[Any, Any, object]]) -> None:
    asyncio.run(scenario())


def pid_alive(pid: int) -> bool:
    """Running, not merely a zombie (an orphan's zombie waits on whoever reaps here)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- seeding and equivalence ---------------------------------------------------------------

def test_seeded_database_decides_exactly_like_the_policy_file(database: str) -> None:
    file_authorizer = Authorizer.from_files()
    shipped = authz.merge_rules(
        authz.parse_policy(authz.DEFAULT_POLICY.read_text(encoding="utf-8")),
        authz.installed_service_rows())
    # The services' access lists are part of what is seeded (classify's among them).
    assert ["business_system", "internet", "/zhijian.classify.v1.ClassifyService/Classify",
            "allow"] in shipped

    async def scenario() -> None:
        assert await policy_store.seed_from_file(database) == len(shipped)
        with pytest.raises(PolicyTableNotEmpty):
            await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(
                database, poll_interval_s=NEVER_S) as store:
            decisions = 0
            for roles, domain, method in itertools.product(ROLE_SETS, authz.DOMAINS,
                                                           _methods()):
                expected = file_authorizer.allowed(roles, domain, method)
                assert store.authorizer.allowed(roles, domain, method) is expected, (
                    roles, domain, method)
                decisions += 1
            assert decisions > 2000

    # The sample must exercise deny-overrides across roles, or equality proves little.
    assert file_authorizer.allowed({"platform_admin"}, "extranet", GET_FILING)
    assert not file_authorizer.allowed({"platform_admin", "service"}, "extranet", GET_FILING)
    run(scenario)
    rows = sql(database, "SELECT ptype, v0, v1, v2, v3, v4 FROM casbin_rule ORDER BY id")
    assert [list(row[1:5]) for row in rows] == shipped
    assert {row[0] for row in rows} == {"p"} and {row[5] for row in rows} == {None}


def test_an_empty_table_denies_everything(database: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing allowed\n", encoding="utf-8")

    async def scenario() -> None:
        assert await policy_store.seed_from_file(database, empty, service_rows=()) == 0
        async with await policy_store.open_database_authorizer(database) as store:
            assert not store.authorizer.allowed({"business_system"}, "intranet", CLASSIFY)

    run(scenario)


def test_a_service_installed_after_seeding_gets_its_rows_added_once(database: str) -> None:
    late = ["business_system", "intranet", "/zhijiantest.late.v1.LateService/Find", "allow"]

    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(database) as store:
            assert not store.authorizer.allowed({"business_system"}, "intranet", late[2])
            rows = [*authz.installed_service_rows(), late]
            assert await policy_store.add_service_rows(database, service_rows=rows) == 1
            assert await policy_store.add_service_rows(database, service_rows=rows) == 0
            await eventually(lambda: store.authorizer.allowed({"business_system"}, "intranet",
                                                              late[2]))

    run(scenario)
    assert len(sql(database, "SELECT id FROM casbin_rule WHERE v2 = %s", late[2])) == 1


# --- hot reload ------------------------------------------------------------------------------

def test_a_notified_deny_row_flips_a_cached_decision_without_restart(database: str) -> None:
    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(
                database, poll_interval_s=NEVER_S) as store:
            authorizer, listener = store.authorizer, store.listener_pid
            assert listener is not None
            roles = frozenset({"business_system"})
            assert authorizer.allowed(roles, "internet", CLASSIFY)
            cached = authorizer.cache_size()
            assert authorizer.allowed(roles, "internet", CLASSIFY)  # now from the cache
            assert authorizer.cache_size() == cached == 1
            digest = authorizer.digest

            await operator_adds(database, ["business_system", "internet", CLASSIFY, "deny"])
            # Unannounced, the row waits for the (hour-long) poll: the cache still answers.
            await asyncio.sleep(1.0)
            assert authorizer.allowed(roles, "internet", CLASSIFY)
            assert store.generation == 1

            await policy_store.notify_policy_changed(database)
            took = await eventually(lambda: not authorizer.allowed(roles, "internet", CLASSIFY))
            assert took < 5.0
            assert store.generation == 2 and authorizer.digest != digest
            # Same objects, same listener: nothing was restarted.
            assert store.authorizer is authorizer and store.listener_pid == listener
            # Only the new row changed anything.
            assert authorizer.allowed(roles, "extranet", CLASSIFY)
            assert not authorizer.allowed({"reviewer"}, "internet", CLASSIFY)

    run(scenario)


def test_polling_picks_up_a_change_nobody_announced(database: str) -> None:
    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(
                database, poll_interval_s=0.3) as store:
            roles = {"reviewer"}
            assert store.authorizer.allowed(roles, "extranet", GET_FILING)
            await asyncio.sleep(1.0)
            assert store.generation == 1  # unchanged rows do not reload the policy
            await operator_adds(database, ["reviewer", "extranet", GET_FILING, "deny"])
            await eventually(lambda: not store.authorizer.allowed(roles, "extranet",
                                                                  GET_FILING))
            assert store.generation == 2

    run(scenario)


# Each is refused by the policy-file check; none may reach Casbin, which would reshape
# or drop it without a word.
MALFORMED = {
    "misspelt effect": ("p", "business_system", "internet", CLASSIFY, "allwo", None),
    "missing effect": ("p", "business_system", "internet", CLASSIFY, None, None),
    "extra column": ("p", "business_system", "internet", CLASSIFY, "deny", "x"),
    "unknown domain": ("p", "business_system", "moon", CLASSIFY, "allow", None),
    "pattern without slash": ("p", "business_system", "internet", "zhijian.*", "allow", None),
    "empty role": ("p", "", "internet", CLASSIFY, "allow", None),
    "role grouping": ("g", "alice", "business_system", None, None, None),
    "misspelt ptype": ("pp", "*", "internet", "/*", "deny", None),
    "duplicate": ("p", "business_system", "internet", CLASSIFY, "allow", None),
}


def test_malformed_rows_keep_the_previous_policy(
        database: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.policy_store")

    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(
                database, poll_interval_s=NEVER_S) as store:
            authorizer = store.authorizer
            digest = authorizer.digest
            for name, row in MALFORMED.items():
                caplog.clear()
                (row_id,), = sql(
                    database, "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", *row)
                # Through the notification path, as a gateway would meet it...
                await policy_store.notify_policy_changed(database)
                await eventually(lambda: store.last_error is not None)
                assert f"casbin_rule id {row_id}" in (store.last_error or ""), name
                assert any(r.levelno == logging.ERROR for r in caplog.records), name
                # ...and on an explicit reload.
                with pytest.raises(PolicyError, match=f"casbin_rule id {row_id}"):
                    await store.reload()
                assert authorizer.digest == digest and store.generation == 1, name
                assert authorizer.allowed({"business_system"}, "internet", CLASSIFY), name
                assert not authorizer.allowed({"service"}, "internet", CLASSIFY), name
                sql(database, "DELETE FROM casbin_rule WHERE id = %s", row_id)
                assert await store.reload() is False  # the same rules as before
                assert store.last_error is None

    run(scenario)


def test_a_malformed_table_is_refused_at_open(database: str) -> None:
    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        sql(database, "UPDATE casbin_rule SET v3 = 'maybe' WHERE id = 1")
        with pytest.raises(PolicyError, match="casbin_rule id 1: effect 'maybe'"):
            await policy_store.open_database_authorizer(database)
        assert wait_until(lambda: backends(database) == 0)  # the failed start left nothing

    run(scenario)


# --- the listener and its lifetime -----------------------------------------------------------

def test_close_releases_the_listener_and_every_connection(database: str) -> None:
    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        store: DatabaseAuthorizer = await policy_store.open_database_authorizer(database)
        pid = store.listener_pid
        assert pid is not None and pid_alive(pid)
        assert backends(database) >= 2  # the LISTEN connection and the reload pool
        await store.close()
        assert store.listener_pid is None and not pid_alive(pid)
        await eventually(lambda: backends(database) == 0)
        # The last policy stays usable; closing twice is harmless.
        assert store.authorizer.allowed({"business_system"}, "intranet", CLASSIFY)
        await store.close()

    run(scenario)


def test_a_killed_listener_is_restarted_and_hears_again(database: str) -> None:
    async def scenario() -> None:
        await policy_store.seed_from_file(database)
        async with await policy_store.open_database_authorizer(
                database, poll_interval_s=NEVER_S) as store:
            first = store.listener_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await eventually(lambda: store.listener_pid not in (None, first))
            await operator_adds(database, ["sre", "intranet", GET_FILING, "deny"])
            await policy_store.notify_policy_changed(database)
            await eventually(lambda: not store.authorizer.allowed({"sre"}, "intranet",
                                                                  GET_FILING))

    run(scenario)


GATEWAY = textwrap.dedent("""
    import asyncio, sys
    from gateway import policy_store

    async def main() -> None:
        store = await policy_store.open_database_authorizer(sys.argv[1])
        print(store.listener_pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


def test_the_listener_leaves_with_a_gateway_killed_by_sigkill(database: str) -> None:
    run(lambda: policy_store.seed_from_file(database))
    gateway = subprocess.Popen([sys.executable, "-c", GATEWAY, database], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert gateway.stdout is not None
        listener = int(gateway.stdout.readline())
        assert pid_alive(listener)
        assert backends(database) >= 2
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(10)
        assert wait_until(lambda: not pid_alive(listener)), "orphaned policy listener"
        assert wait_until(lambda: backends(database) == 0)
    finally:
        gateway.kill()
        gateway.wait()


# --- an Authorizer fed with rules (no database) ----------------------------------------------

MODEL_TEXT = authz.DEFAULT_MODEL.read_text(encoding="utf-8")
ALLOW_CLASSIFY = ["business_system", "internet", CLASSIFY, "allow"]


def test_replace_rules_swaps_policy_and_cache_only_when_rules_differ() -> None:
    authorizer = Authorizer.from_rules(MODEL_TEXT, [ALLOW_CLASSIFY])
    assert authorizer.allowed({"business_system"}, "internet", CLASSIFY)
    assert authorizer.cache_size() == 1
    assert authorizer.replace_rules([list(ALLOW_CLASSIFY)]) is False
    assert authorizer.cache_size() == 1  # same rules: the cache stays warm
    assert authorizer.replace_rules(
        [ALLOW_CLASSIFY, ["*", "internet", "/zhijian.classify.v1.*", "deny"]]) is True
    assert authorizer.cache_size() == 0
    assert not authorizer.allowed({"business_system"}, "internet", CLASSIFY)


def test_rules_get_the_policy_file_checks() -> None:
    with pytest.raises(PolicyError, match="rows rule 2: effect 'permit'"):
        Authorizer.from_rules(MODEL_TEXT, [ALLOW_CLASSIFY, ["a", "intranet", "/x", "permit"]],
                              source="rows")
    authorizer = Authorizer.from_rules(MODEL_TEXT, [ALLOW_CLASSIFY])
    for bad in ([ALLOW_CLASSIFY, ALLOW_CLASSIFY], [["business_system", "internet", CLASSIFY]],
                [["r", "mars", CLASSIFY, "allow"]]):
        with pytest.raises(PolicyError):
            authorizer.replace_rules(bad)
        assert authorizer.allowed({"business_system"}, "internet", CLASSIFY)


def test_file_and_rule_authorizers_do_not_mix_their_reloads() -> None:
    with pytest.raises(RuntimeError):
        Authorizer.from_files().replace_rules([ALLOW_CLASSIFY])
    with pytest.raises(RuntimeError):
        Authorizer.from_rules(MODEL_TEXT, [ALLOW_CLASSIFY]).reload_if_changed()


# --- URLs ------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", [
    "postgresql://u:p@db:5433/policy", "postgres://u:p@db:5433/policy",
    "postgresql+psycopg2://u:p@db:5433/policy", "postgresql+asyncpg://u:p@db:5433/policy"])
def test_postgres_urls_map_to_the_psycopg_async_driver(given: str) -> None:
    url = policy_store.async_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.username, url.password, url.database) == (
        "db", 5433, "u", "p", "policy")


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        policy_store.async_url("sqlite:///policy.db")
