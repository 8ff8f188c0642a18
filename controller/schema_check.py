"""Validate event records against the published schema (the test suite checks every event it sees)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PUBLISHED = Path(__file__).resolve().parents[1] / "docs" / "events.schema.json"


@functools.cache
def _validator() -> Any:
    import jsonschema

    from controller.event_schema import build_schema

    schema = json.loads(PUBLISHED.read_text()) if PUBLISHED.is_file() else build_schema()
    return jsonschema.Draft202012Validator(schema)


def assert_event_valid(record: dict[str, Any]) -> None:
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(map(str, e.path)))
    if errors:
        detail = "; ".join(f"{'/'.join(map(str, e.path)) or '(event)'}: {e.message}" for e in errors[:3])
        raise AssertionError(f"{record.get('event')} event does not match docs/events.schema.json: {detail}")
