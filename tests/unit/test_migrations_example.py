"""examples/migrations: the hook runs the real Alembic migrations against a real SQLite database, and each
version's queries work on the schema each step leaves (expand keeps v1 working; contract only after it)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[2] / "examples" / "migrations" / "migrate.py"
V1_READS = "SELECT id, name FROM customers"
V2_READS = "SELECT id, display_name FROM customers"


def migrate(step: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", **env}
    return subprocess.run(
        [sys.executable, str(HOOK), step],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The database as the live version (v1) uses it: revision 0001 with two customers."""
    path = tmp_path / "app.db"
    done = migrate("expand", path)  # creates 0001 then 0002; rebuild at 0001 below for a clean start
    assert done.returncode == 0, done.stderr
    path.unlink()
    from alembic import command
    from alembic.config import Config

    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    try:
        command.upgrade(Config(str(HOOK.parent / "alembic.ini")), "0001")
    finally:
        del os.environ["DATABASE_URL"]
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO customers (name) VALUES (?)", [("Ada",), ("Grace",)])
    return path


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_expand_is_additive_and_backfilled_so_both_versions_work(db: Path) -> None:
    assert migrate("expand", db, APIGW_CANARY_HOOK="pre-traffic").returncode == 0
    assert rows(db, V1_READS) == [(1, "Ada"), (2, "Grace")]  # the live version still works
    assert rows(db, V2_READS) == [(1, "Ada"), (2, "Grace")]  # the new one reads the backfilled column


def test_on_rollback_leaves_expand_in_place_and_says_so(db: Path) -> None:
    migrate("expand", db)
    done = migrate("on-rollback", db, APIGW_CANARY_HOOK="on-rollback", APIGW_CANARY_REASON="error_rate")
    assert done.returncode == 0 and "the expand migration stays" in done.stderr
    assert rows(db, V1_READS) == [(1, "Ada"), (2, "Grace")]  # the old version serves on the expanded schema


def test_contract_after_promotion_drops_what_only_the_old_version_read(db: Path) -> None:
    migrate("expand", db)
    assert migrate("contract", db, APIGW_CANARY_HOOK="post-promotion").returncode == 0
    assert rows(db, V2_READS) == [(1, "Ada"), (2, "Grace")]
    with pytest.raises(sqlite3.OperationalError, match="no such column: name"):
        rows(db, V1_READS)


def test_an_unknown_step_is_a_usage_error(db: Path) -> None:
    assert migrate("downgrade", db).returncode == 2
