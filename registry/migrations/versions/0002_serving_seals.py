"""serving seals: rows that serving decisions read point at their seal on the ledger

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

TABLES = ("filings", "approvals", "deployments")


def upgrade() -> None:
    # Rows that exist before this revision have no seal; the registry seals them once, in
    # one recorded act, the first time it starts on a ledger that holds no seal yet.
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("seal_sequence", sa.Integer(), nullable=False,
                                          server_default="0"))
            batch_op.add_column(sa.Column("seal_sha256", sa.String(length=64), nullable=False,
                                          server_default=""))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("seal_sha256")
            batch_op.drop_column("seal_sequence")
