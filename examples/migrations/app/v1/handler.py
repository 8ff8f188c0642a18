"""v1 of the example app (live before the release): each request adds a customer and reads the latest one
back, through the `name` column. It works on revision 0001 and, after expand, on 0002 (it never names
`display_name`); it cannot work after contract (0003 drops `name`), which is why contract waits for v1 to go.

DATABASE_URL names the database: sqlite:////path/app.db here. On RDS or Aurora, connect with your driver in
`connect()` (package it with the function) and keep the queries.
"""

import json
import os
import sqlite3
from contextlib import closing

SQLITE = "sqlite:///"


def connect():
    url = os.environ["DATABASE_URL"]
    if not url.startswith(SQLITE):
        raise RuntimeError(f"this example connects to SQLite only ({SQLITE}PATH), not {url.split(':')[0]}")
    # Autocommit mode, so BEGIN IMMEDIATE below is the transaction; wait up to 5 s for a migration's lock.
    return sqlite3.connect(url[len(SQLITE) :], timeout=5, isolation_level=None)


def answer(status, **fields):
    slot = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "").rsplit("-", 1)[-1]
    body = {"version": os.environ.get("VERSION_LABEL", "v1"), "environment": slot, "reads": "name", **fields}
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event, context):
    try:
        with closing(connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO customers (name) VALUES (?)", (f"customer {context.aws_request_id}",))
            latest = db.execute("SELECT name FROM customers ORDER BY id DESC LIMIT 1").fetchone()[0]
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        return answer(500, error=f"{type(exc).__name__}: {exc}")
    return answer(200, latest=latest)
