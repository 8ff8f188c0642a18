"""The release's migration hook: `python migrate.py baseline|expand|contract|on-rollback` (DATABASE_URL set).

    shift --pre-traffic    "python examples/migrations/migrate.py expand" \
          --post-promotion "python examples/migrations/migrate.py contract" \
          --on-rollback    "python examples/migrations/migrate.py on-rollback" --guard 10m

baseline -> alembic upgrade 0001 (the schema v1 serves on; once, when the database is created)
expand   -> alembic upgrade 0002 (additive: both versions work on the result)
contract -> alembic upgrade 0003 (only once the old version is gone: after the promotion and the guard)
on-rollback -> nothing: expand stays, the old version serves on the expanded schema; it says so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).resolve().parent
TARGETS = {"baseline": "0001", "expand": "0002", "contract": "0003"}


def main(step: str) -> int:
    hook = os.environ.get("APIGW_CANARY_HOOK", "manual")
    if step == "on-rollback":
        reason = os.environ.get("APIGW_CANARY_REASON", "")
        print(f"[{hook}] rolled back ({reason}): the expand migration stays; the live version keeps serving "
              "on the expanded schema; contract was not run", file=sys.stderr)  # fmt: skip
        return 0
    if step not in TARGETS:
        print(f"usage: migrate.py baseline|expand|contract|on-rollback (got {step!r})", file=sys.stderr)
        return 2
    config = Config(str(HERE / "alembic.ini"))
    command.upgrade(config, TARGETS[step])
    print(f"[{hook}] {step}: schema at revision {TARGETS[step]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
