"""The JSON Schema of a wave plan (`shift --plan FILE`), published as docs/plan.schema.json.

Kept as Python data so the installed package needs no data files; a test checks the published copy.
"""

from __future__ import annotations

from typing import Any

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d+$"
MAX_STACKS = 200
MAX_CONCURRENCY = 100

_STACK: dict[str, Any] = {
    "type": "object",
    "description": "One stack: where its controller_config comes from, and its region.",
    "required": ["region"],
    "additionalProperties": False,
    "properties": {
        "name": {
            "type": "string",
            "pattern": NAME_PATTERN,
            "description": "Names the stack in events, status and the report (default: its region).",
        },
        "tf_dir": {
            "type": "string",
            "minLength": 1,
            "description": "A Terraform directory: its `terraform output -json` holds controller_config, "
            "or controller_configs by region. Relative to the plan file.",
        },
        "outputs": {
            "type": "string",
            "minLength": 1,
            "description": "A saved `terraform output -json` (or the bare controller_config). Relative to "
            "the plan file.",
        },
        "region": {
            "type": "string",
            "pattern": REGION_PATTERN,
            "description": "The stack's region; its controller_config must say the same.",
        },
    },
    "oneOf": [{"required": ["tf_dir"]}, {"required": ["outputs"]}],
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/apigw-canary/apigw-canary/docs/plan.schema.json",
    "title": "apigw-canary wave plan",
    "description": (
        "Stacks released in ordered waves by `python -m controller shift --plan FILE`: a wave starts once "
        "every stack of the one before is promoted and the bake after it has passed; a failure stops the "
        "plan and, with policy revert, undoes the promotions it made."
    ),
    "type": "object",
    "required": ["waves"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN, "description": "The plan's name, in its events."},
        "policy": {
            "enum": ["hold", "revert"],
            "description": "After a failure: hold (earlier waves stay promoted, the default) or revert "
            "(every promotion of the plan is undone).",
        },
        "bake": {
            "type": "string",
            "minLength": 1,
            "description": "How long a promoted wave is watched (its alarms) before the next starts: 10m, "
            "1h, 0 (default 0).",
        },
        "concurrency": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_CONCURRENCY,
            "description": "Stacks of a wave rolling at once (default 10).",
        },
        "waves": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "required": ["stacks"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN},
                    "stacks": {"type": "array", "minItems": 1, "maxItems": MAX_STACKS, "items": _STACK},
                },
            },
        },
    },
}
