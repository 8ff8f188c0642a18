"""CONTRACT (post-promotion, after the guard): drop `name`, which only v1 read. Never before v1 is gone.

Rows v1 wrote after expand (while it still served beside the canary) have no `display_name` yet: backfill
them first, in the same transaction, so nothing is lost with the column.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("UPDATE customers SET display_name = name WHERE display_name IS NULL")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("name")
