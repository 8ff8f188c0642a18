"""CONTRACT (post-promotion, after the guard): drop `name`, which only v1 read. Never before v1 is gone.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("name")
