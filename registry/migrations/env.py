"""Alembic environment of the governance database (online migrations only)."""

from __future__ import annotations

from alembic import context

import registry.schema  # noqa: F401  (registers the tables on Base.metadata)
from registry.db import Base, make_engine

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
