"""review records: the human reviews every service ships, counted per model version

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_records",
        sa.Column("result", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("filing_id", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("review_time", sa.Float(), nullable=False),
        sa.Column("recorder", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("result"),
    )
    op.create_index("ix_review_records_model", "review_records", ["model"])
    op.create_index("ix_review_records_filing_id", "review_records", ["filing_id"])


def downgrade() -> None:
    op.drop_index("ix_review_records_filing_id", table_name="review_records")
    op.drop_index("ix_review_records_model", table_name="review_records")
    op.drop_table("review_records")
