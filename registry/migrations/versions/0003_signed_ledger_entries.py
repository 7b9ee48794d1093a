"""signed ledger entries: every entry carries the ledger key's signature

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Entries that exist before this revision stay unsigned. The chain, the checkpoints
    # and the witness already vouch for them; the registry records, once and signed, up
    # to which entry that holds (Ledger.adopt_unsigned), the first time it starts.
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_column("signature")
