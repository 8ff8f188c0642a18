"""UpdateStage's patch operations on one stage, canary paths included, applied all-or-nothing.

What AWS documents for a stage's canary: the paths under /canarySettings (percentTraffic, deploymentId,
stageVariableOverrides/NAME, useStageCache, and op=remove on /canarySettings itself), adding canary settings
to a stage without a canary starting from the stage's own deployment, and the promotion's copy operations
(/canarySettings/deploymentId to /deploymentId, /canarySettings/stageVariableOverrides to /variables).
https://docs.aws.amazon.com/apigateway/latest/developerguide/update-canary-deployment.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/delete-canary-deployment.html

The stage and the API are moto's objects, or anything with the same attributes: a stage's `deployment_id`,
`variables`, `canary_settings` and `tracing_enabled`, an API's `deployments`. Paths this module does not
handle go to the `fallback` given (moto's own Stage.apply_operations).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from moto.apigateway.exceptions import BadRequestException

CANARY_PREFIX = "/canarySettings"

# Applies one patch operation this module does not handle to the stage (moto's own Stage.apply_operations).
Fallback = Callable[[Any, dict[str, Any]], None]


def parse_percent(value: Any) -> float:
    try:
        pct = float(value)
    except (TypeError, ValueError):
        raise BadRequestException(
            f"Invalid value for percentTraffic: {value!r}. It must be a number between 0.0 and 100.0."
        ) from None
    # "A percentage of API traffic, between 0.0 and 100.0 inclusive, for the canary release"
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
    if not 0.0 <= pct <= 100.0:
        raise BadRequestException(
            f"Invalid value for percentTraffic: {pct}. The canary traffic percentage must be between "
            "0.0 and 100.0, inclusive."
        )
    return pct


def parse_bool(value: Any, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise BadRequestException(f"Invalid value for {field_name}: {value!r}. Expected true or false.")


def require_deployment(api: Any, deployment_id: Any) -> str:
    if not deployment_id or str(deployment_id) not in api.deployments:
        raise BadRequestException(f"Invalid deployment identifier specified: {deployment_id!r}")
    return str(deployment_id)


def normalise_canary(api: Any, raw: dict[str, Any], default_deployment: str | None) -> dict[str, Any]:
    """Validate a CanarySettings input object and give it the shape GetStage returns."""
    unknown = set(raw) - {"percentTraffic", "deploymentId", "stageVariableOverrides", "useStageCache"}
    if unknown:
        raise BadRequestException(f"Invalid canarySettings field(s): {', '.join(sorted(unknown))}")
    deployment_id = raw.get("deploymentId") or default_deployment
    overrides = raw.get("stageVariableOverrides") or {}
    if not isinstance(overrides, dict):
        raise BadRequestException("canarySettings.stageVariableOverrides must be a map of strings.")
    return {
        "percentTraffic": parse_percent(raw.get("percentTraffic", 0.0)),
        "deploymentId": require_deployment(api, deployment_id),
        "stageVariableOverrides": {str(k): str(v) for k, v in overrides.items()},
        "useStageCache": parse_bool(raw.get("useStageCache", False), "useStageCache"),
    }


def _pointer_value(stage: Any, path: str) -> Any:
    """The value at a JSON pointer on a stage, for the "copy" patch operation."""
    if path == "/deploymentId":
        return stage.deployment_id
    if path == "/variables":
        return dict(stage.variables)
    canary = stage.canary_settings or {}
    if path == f"{CANARY_PREFIX}/deploymentId":
        return canary.get("deploymentId")
    if path == f"{CANARY_PREFIX}/stageVariableOverrides":
        return dict(canary.get("stageVariableOverrides") or {})
    if path == f"{CANARY_PREFIX}/percentTraffic":
        return canary.get("percentTraffic")
    raise BadRequestException(
        f"Invalid patch path {path!r} for copy; supported sources are /deploymentId, "
        f"/variables, {CANARY_PREFIX}/deploymentId and {CANARY_PREFIX}/stageVariableOverrides"
    )


def _apply_canary_operation(api: Any, stage: Any, op: str, path: str, value: Any) -> None:
    if op == "remove" and path in (CANARY_PREFIX, CANARY_PREFIX + "/"):
        stage.canary_settings = None
        return
    if stage.canary_settings is None:
        # Adding canary settings to a stage without a canary starts from the stage's own deployment
        # (https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html).
        stage.canary_settings = {
            "percentTraffic": 0.0,
            "deploymentId": stage.deployment_id,
            "stageVariableOverrides": {},
            "useStageCache": False,
        }
    canary = stage.canary_settings
    field_path = path[len(CANARY_PREFIX) :]
    if field_path.startswith("/stageVariableOverrides/"):
        name = field_path[len("/stageVariableOverrides/") :]
        if op == "remove":
            canary["stageVariableOverrides"].pop(name, None)
        elif op in ("replace", "add"):
            canary["stageVariableOverrides"][name] = "" if value is None else str(value)
        else:
            raise BadRequestException(
                f"Invalid patch operation {op!r} for {path}; use add, replace or remove."
            )
        return
    if op not in ("replace", "add"):
        raise BadRequestException(f"Invalid patch operation {op!r} for {path}; use replace.")
    if field_path == "/percentTraffic":
        canary["percentTraffic"] = parse_percent(value)
    elif field_path == "/deploymentId":
        canary["deploymentId"] = require_deployment(api, value)
    elif field_path == "/useStageCache":
        canary["useStageCache"] = parse_bool(value, "useStageCache")
    elif field_path == "/stageVariableOverrides" and isinstance(value, dict):
        canary["stageVariableOverrides"] = {str(k): str(v) for k, v in value.items()}
    else:
        raise BadRequestException(
            f"Invalid patch path {path!r}. Canary paths are {CANARY_PREFIX}/percentTraffic, "
            f"{CANARY_PREFIX}/deploymentId, {CANARY_PREFIX}/stageVariableOverrides/NAME and "
            f"{CANARY_PREFIX}/useStageCache (or op=remove path={CANARY_PREFIX})."
        )


def _apply_operation(api: Any, stage: Any, op: dict[str, Any], fallback: Fallback) -> None:
    """One patch operation on `stage`: canary paths, /deploymentId and copies here, the rest to `fallback`."""
    kind = op.get("op")
    path = op.get("path") or ""
    value = op.get("value")
    if kind == "copy":
        source = _pointer_value(stage, op.get("from") or "")
        if path == "/deploymentId":
            stage.deployment_id = require_deployment(api, source)
        elif path == "/variables":
            # Promotion copies canary stage variables over the stage's
            # (https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html).
            stage.variables.update(source or {})
        elif path.startswith(CANARY_PREFIX):
            _apply_canary_operation(api, stage, "replace", path, source)
        else:
            raise BadRequestException(f"Invalid patch path {path!r} for copy.")
        return
    if path.startswith(CANARY_PREFIX):
        _apply_canary_operation(api, stage, kind, path, value)
        return
    if path == "/deploymentId":
        if kind != "replace":
            raise BadRequestException("Only op=replace is supported on /deploymentId.")
        stage.deployment_id = require_deployment(api, value)
        return
    if path.startswith("/variables/") and kind == "add":
        op = dict(op, op="replace")
    if path.startswith("/variables/") and kind not in ("add", "replace", "remove"):
        raise BadRequestException(f"Invalid patch operation {kind!r} for {path}.")
    if path == "/tracingEnabled" and kind == "replace":
        stage.tracing_enabled = parse_bool(value, "tracingEnabled")
        return
    fallback(stage, op)


def apply_operations(
    api: Any, stage: Any, operations: Sequence[dict[str, Any]] | None, fallback: Fallback
) -> Any:
    """The stage after every operation, or the stage untouched if one is refused: UpdateStage is one
    request, so a refused operation leaves nothing half-applied. Returns the updated copy."""
    working = copy.deepcopy(stage)
    for op in operations or []:
        _apply_operation(api, working, op, fallback)
    return working
