"""The JSON Schema of a gates file (`shift --gates FILE`), published as docs/gates.schema.json.

Kept as Python data so the installed package needs no data files; a test checks the published copy.
"""

from __future__ import annotations

from typing import Any

STATISTICS_PATTERN = r"^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d+)?|p100|tm\d{1,2}|IQM)$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
QUERY_ID_PATTERN = r"^[a-z][A-Za-z0-9_]{0,30}$"


def _ANY_OF(*keys: str) -> dict[str, Any]:  # noqa: N802 - reads as schema vocabulary
    return {"anyOf": [{"required": [key]} for key in keys]}


_METRIC: dict[str, Any] = {
    "type": "object",
    "description": "One CloudWatch metric, read with one statistic per metric period.",
    "required": ["namespace", "name", "stat"],
    "additionalProperties": False,
    "properties": {
        "namespace": {"type": "string", "minLength": 1, "maxLength": 255},
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "stat": {"type": "string", "pattern": STATISTICS_PATTERN},
        "dimensions": {
            "type": "object",
            "maxProperties": 30,
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 1024},
        },
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/apigw-canary/apigw-canary/docs/gates.schema.json",
    "title": "apigw-canary gates file",
    "description": (
        "User-defined gates for `python -m controller shift --gates FILE`: each is evaluated every metric "
        "period of the rollout; a failing gate rolls the release back unless it is a shadow gate."
    ),
    "type": "object",
    "required": ["gates"],
    "additionalProperties": False,
    "properties": {
        "gates": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": NAME_PATTERN},
                    "description": {"type": "string", "maxLength": 500},
                    "metric": _METRIC,
                    "expression": {"type": "string", "minLength": 1, "maxLength": 2048},
                    "metrics": {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 10,
                        "propertyNames": {"pattern": QUERY_ID_PATTERN},
                        "additionalProperties": _METRIC,
                    },
                    "alarm": {"type": "string", "minLength": 1, "maxLength": 255},
                    "max": {"type": "number"},
                    "min": {"type": "number"},
                    "max_ratio_to_baseline": {"type": "number", "exclusiveMinimum": 0},
                    "shadow": {"type": "boolean"},
                    "no_data": {"enum": ["ignore", "fail"]},
                },
                "oneOf": [
                    {"required": ["metric"], "not": _ANY_OF("expression", "alarm")},
                    {"required": ["expression", "metrics"], "not": _ANY_OF("metric", "alarm")},
                    {"required": ["alarm"], "not": _ANY_OF("metric", "expression", "metrics")},
                ],
            },
        }
    },
}
