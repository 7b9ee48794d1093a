"""Shared test helpers. Integration fixtures live in tests/integration/conftest.py."""

import tempfile
from pathlib import Path

from zhijian.config import contain_environment

# Tests must never write to the home directory or phone home.
contain_environment(Path(tempfile.mkdtemp(prefix="zhijian-tests-")))


# --- databases: the registry runs on SQLite (embedded) and PostgreSQL (production) ---

import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("ZHIJIAN_TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_database(scheme: str = "postgresql+psycopg") -> Iterator[str]:
    """A fresh database on the local PostgreSQL, dropped afterwards. Under CI=true an
    unreachable server fails the run instead of skipping it."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL} under CI: {error}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"zhijian_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        try:
            yield f"{scheme}://{base.split('://', 1)[1]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database as a plain ``postgresql://`` URL (libpq form)."""
    yield from _postgres_database("postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated registry database on each backend."""
    from registry.db import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
        upgrade(url)
        yield url
        return
    for url in _postgres_database():
        upgrade(url)
        yield url
