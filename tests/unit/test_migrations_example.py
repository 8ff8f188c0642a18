"""examples/migrations: the hook runs the real Alembic migrations against a real SQLite database, and each
version's queries work on the schema each step leaves (expand keeps v1 working; contract only after it).
The app's two handlers (examples/migrations/app/v1 and v2) run here as plain functions on that database;
tests/e2e/test_migrations_e2e.py runs them as the stack's slot functions under traffic."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

HOOK = Path(__file__).resolve().parents[2] / "examples" / "migrations" / "migrate.py"
APP = HOOK.parent / "app"
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
    done = migrate("baseline", path)
    assert done.returncode == 0, done.stderr
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


def test_contract_backfills_what_v1_wrote_after_expand_before_dropping_its_column(db: Path) -> None:
    migrate("expand", db)
    with sqlite3.connect(db) as conn:  # v1 beside the canary: it writes `name` only
        conn.execute("INSERT INTO customers (name) VALUES ('Hedy')")
    assert migrate("contract", db).returncode == 0
    assert rows(db, V2_READS) == [(1, "Ada"), (2, "Grace"), (3, "Hedy")]


def handler(version: str, db: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migrations_app_{version}", APP / version / "handler.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"shop-{'blue' if version == 'v1' else 'green'}")
    return module


def call(module: ModuleType, request_id: str) -> tuple[int, dict]:
    answer = module.lambda_handler({}, SimpleNamespace(aws_request_id=request_id))
    return answer["statusCode"], json.loads(answer["body"])


def test_v1_serves_on_the_baseline_and_on_the_expanded_schema_but_not_after_contract(db, monkeypatch) -> None:
    v1 = handler("v1", db, monkeypatch)
    assert call(v1, "a") == (
        200,
        {"version": "v1", "environment": "blue", "reads": "name", "latest": "customer a"},
    )
    migrate("expand", db)
    assert call(v1, "b")[0] == 200
    migrate("contract", db)
    status, body = call(v1, "c")
    assert status == 500 and "no column named name" in body["error"]


def test_v2_refuses_the_baseline_writes_both_columns_until_contract_then_display_name_alone(db, monkeypatch):
    v2 = handler("v2", db, monkeypatch)
    status, body = call(v2, "a")
    assert status == 500 and "schema not expanded" in body["error"]
    migrate("expand", db)
    assert call(v2, "b") == (
        200,
        {"version": "v2", "environment": "green", "reads": "display_name", "latest": "customer b",
         "schema": "expanded"},
    )  # fmt: skip
    assert rows(db, "SELECT name, display_name FROM customers WHERE id = 3") == [("customer b", "customer b")]
    migrate("contract", db)
    assert call(v2, "c")[1]["schema"] == "contracted"
    assert rows(db, "SELECT display_name FROM customers ORDER BY id DESC LIMIT 1") == [("customer c",)]


def test_the_handlers_say_they_speak_sqlite_only(db, monkeypatch) -> None:
    v1 = handler("v1", db, monkeypatch)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example.com/app")
    with pytest.raises(RuntimeError, match="SQLite only"):
        call(v1, "a")
