"""The JSON Schema of the event log, generated from `controller.event_types` (docs/events.schema.json).

`python -m controller.event_schema` prints it; a test checks the published copy is current and validates
every event the suite emits against it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from controller.event_types import EVENT_TYPES, SCHEMA_VERSION, Event

SCHEMA_ID = "https://github.com/apigw-canary/apigw-canary/docs/events.schema.json"


def _type_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a, defs) for a in args]}
    if hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0], defs)}
    if origin in (Mapping, dict, typing.Mapping):
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in defs:
            defs[name] = {}  # reserve against recursion
            defs[name] = _object(hint, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def _object(cls: type, defs: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = dict(extra or {})
    required = list(extra or {})
    for f in dataclasses.fields(cls):
        properties[f.name] = _type_schema(hints[f.name], defs)
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and f.name != "at":
            required.append(f.name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _event(cls: type[Event], defs: dict[str, Any]) -> dict[str, Any]:
    schema = _object(
        cls,
        defs,
        {"event": {"const": cls.kind}, "schema_version": {"const": SCHEMA_VERSION}},
    )
    schema["properties"]["at"] = {"type": "number", "description": "epoch seconds"}
    schema["required"].append("at")
    schema["description"] = (cls.__doc__ or cls.kind).strip().splitlines()[0]
    return schema


def build_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    events = {cls.__name__: _event(cls, defs) for cls in EVENT_TYPES}
    defs.update(events)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "apigw-canary rollout events",
        "description": (
            "One JSON object per line of `python -m controller ... --json`; `event` names the kind, "
            f"`schema_version` is {SCHEMA_VERSION}."
        ),
        "oneOf": [{"$ref": f"#/$defs/{cls.__name__}"} for cls in EVENT_TYPES],
        "$defs": dict(sorted(defs.items())),
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
