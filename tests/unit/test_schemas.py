"""The published schemas are the ones the code uses, and they say no more and no less than the types."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from controller import event_types as ev
from controller.event_schema import build_schema
from controller.gates_schema import SCHEMA as GATES_SCHEMA
from controller.schema_check import assert_event_valid

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_published_events_schema_is_generated_from_the_event_types() -> None:
    # Regenerate with: python -m controller.event_schema > docs/events.schema.json
    assert json.loads((DOCS / "events.schema.json").read_text()) == build_schema()


def test_the_published_gates_schema_is_the_one_the_validator_uses() -> None:
    assert json.loads((DOCS / "gates.schema.json").read_text()) == GATES_SCHEMA
    jsonschema.Draft202012Validator.check_schema(GATES_SCHEMA)


def test_every_event_kind_has_a_schema_entry_and_round_trips_through_json() -> None:
    schema = build_schema()
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in schema["oneOf"]} == {c.__name__ for c in ev.EVENT_TYPES}
    tick = ev.TickEvent(
        at=1.0,
        step=1,
        percent=10,
        canary=ev.Window(100, 1),
        baseline=ev.Window(900, 3),
        verdict="CONTINUE",
        reason="baking",
        bake_left_s=20,
        gates=(ev.GateOutcome("judge", "NO_DATA", "collecting"),),
    )
    record = json.loads(json.dumps(tick.to_dict()))
    assert_event_valid(record)
    assert ev.parse_event(record) == tick


def test_a_record_with_a_renamed_field_fails_the_schema() -> None:
    record = ev.GateFailed(at=1.0, step=1, percent=10, gate="judge", reason="worse").to_dict()
    record["gate_name"] = record.pop("gate")
    with pytest.raises(AssertionError, match="gate"):
        assert_event_valid(record)
