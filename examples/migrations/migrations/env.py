"""Alembic's environment: the database is $DATABASE_URL (SQLite on the local cloud, RDS/Aurora on AWS)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

url = os.environ["DATABASE_URL"]
engine = create_engine(url)
with engine.connect() as connection:
    # SQLite cannot ALTER most things in place: batch mode copies the table (Alembic's documented way).
    context.configure(connection=connection, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
