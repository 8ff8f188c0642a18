"""v2 of the example app (the release): each request adds a customer and reads the latest one back, through
`display_name`. It needs revision 0002 (expand, run by the pre-traffic hook before any request reaches it).
Until contract it writes `name` too, so v1, still live beside the canary or put back by a rollback or undo,
reads every customer; after contract (0003) it writes `display_name` alone.

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
    body = {"version": os.environ.get("VERSION_LABEL", "v2"), "environment": slot, "reads": "display_name"}
    body.update(fields)
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def lambda_handler(event, context):
    customer = f"customer {context.aws_request_id}"
    try:
        with closing(connect()) as db:
            # The write lock first: the schema read below holds until COMMIT (a migration waits for it).
            db.execute("BEGIN IMMEDIATE")
            columns = {row[1] for row in db.execute("PRAGMA table_info(customers)")}
            if "display_name" not in columns:
                db.execute("ROLLBACK")
                return answer(500, error="schema not expanded: run the expand migration before v2 serves")
            if "name" in columns:  # before contract: v1 may serve again, so it must read what v2 writes
                db.execute("INSERT INTO customers (name, display_name) VALUES (?, ?)", (customer, customer))
            else:
                db.execute("INSERT INTO customers (display_name) VALUES (?)", (customer,))
            latest = db.execute("SELECT display_name FROM customers ORDER BY id DESC LIMIT 1").fetchone()[0]
            db.execute("COMMIT")
    except sqlite3.Error as exc:
        return answer(500, error=f"{type(exc).__name__}: {exc}")
    return answer(200, latest=latest, schema="contracted" if "name" not in columns else "expanded")
