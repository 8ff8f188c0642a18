"""Alembic's environment: the database is $DATABASE_URL (SQLite on the local cloud, RDS/Aurora on AWS)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, event

url = os.environ["DATABASE_URL"]
engine = create_engine(url)
if url.startswith("sqlite"):
    # Python's sqlite3 opens no transaction before DDL, so a migration's CREATE/DROP/RENAME would each commit
    # on their own and the app could see the table half rebuilt. SQLAlchemy's documented fix: let the driver
    # do nothing and begin the transaction ourselves; IMMEDIATE takes the write lock at once (the app's
    # requests wait for the migration, then see the whole new schema).
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    @event.listens_for(engine, "connect")
    def _driver_does_not_begin(dbapi_connection, _record):  # noqa: ANN001 - SQLAlchemy's event signature
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):  # noqa: ANN001
        connection.exec_driver_sql("BEGIN IMMEDIATE")


with engine.connect() as connection:
    # SQLite cannot ALTER most things in place: batch mode copies the table (Alembic's documented way).
    context.configure(connection=connection, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
