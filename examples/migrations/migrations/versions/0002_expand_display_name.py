"""EXPAND (pre-traffic): add `display_name`, nullable, and backfill it. Additive only: v1 never reads it and
keeps working; v2 reads `display_name` and writes both columns until the contract step.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("customers", sa.Column("display_name", sa.String(200), nullable=True))
    # The backfill, in one statement here; batch it (WHERE id BETWEEN ...) on a large table.
    op.execute("UPDATE customers SET display_name = name WHERE display_name IS NULL")
