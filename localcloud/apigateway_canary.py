"""API Gateway stages and deployments with canary releases, as AWS documents them.

Fixes to moto 5.2.5 (each cited to the AWS page it follows):
- CreateDeployment with canarySettings on an existing stage keeps the stage's deploymentId and attaches the
new
  deployment as the canary; a non-canary deployment to a canary-enabled stage also goes to the canary; a
  canary
  deployment to a stage that does not exist is an error.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
- CreateStage and UpdateStage accept canarySettings (/canarySettings/percentTraffic, /deploymentId,
  /stageVariableOverrides/NAME, /useStageCache, remove /canarySettings) and GetStage(s) return them.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/update-canary-deployment.html
  https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html
  https://docs.aws.amazon.com/apigateway/latest/developerguide/delete-canary-deployment.html
- Deployments snapshot the API definition, so a canary can serve a changed integration while the stage
serves the
  old one; CreateDeployment no longer replaces the whole stage (variables, method settings, tags survive).
- A deployment is "active" (cannot be deleted) while a stage or a stage's canary points at it.
Patch operations on a stage are applied all-or-nothing, as UpdateStage is a single request.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway import responses as apigw_responses
from moto.apigateway.exceptions import (
    BadRequestException,
    ConflictException,
    NoIntegrationDefined,
    NoMethodDefined,
    StageNotFoundException,
    StageStillActive,
)
from moto.apigateway.utils import ApigwDeploymentIdentifier

from .routes import snapshot_api

CANARY_PREFIX = "/canarySettings"


def _not_found(message: str) -> Exception:
    from moto.apigateway.exceptions import NotFoundException

    exc = NotFoundException(message)
    exc.code = 404
    return exc


# ----------------------------------------------------------------------------------------------------
# Canary settings values
# ----------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------
# Stage model
# ----------------------------------------------------------------------------------------------------
_original: dict[str, Any] = {}


def stage_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original["stage_init"](self, *args, **kwargs)
    now = int(time.time())
    self.canary_settings = None
    self.created_date = now
    self.last_updated_date = now


def stage_to_json(self: Any) -> dict[str, Any]:
    dct = _original["stage_to_json"](self)
    canary = getattr(self, "canary_settings", None)
    if canary is not None:
        dct["canarySettings"] = copy.deepcopy(canary)
    if getattr(self, "created_date", None):
        dct["createdDate"] = self.created_date
        dct["lastUpdatedDate"] = self.last_updated_date
    if not dct.get("accessLogSettings"):
        dct.pop("accessLogSettings", None)
    return dct


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


def _apply_canary_op(api: Any, stage: Any, op: str, path: str, value: Any) -> None:
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


def _apply_op(api: Any, stage: Any, op: dict[str, Any]) -> None:
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
            _apply_canary_op(api, stage, "replace", path, source)
        else:
            raise BadRequestException(f"Invalid patch path {path!r} for copy.")
        return
    if path.startswith(CANARY_PREFIX):
        _apply_canary_op(api, stage, kind, path, value)
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
    _original["stage_apply_operations"](stage, [op])


def backend_update_stage(self: Any, function_id: str, stage_name: str, patch_operations: Any) -> Any:
    api = self.get_rest_api(function_id)
    stage = api.stages.get(stage_name)
    if stage is None:
        raise StageNotFoundException()
    working = copy.deepcopy(stage)
    for op in patch_operations or []:
        _apply_op(api, working, op)
    working.last_updated_date = int(time.time())
    stage.__dict__.update(working.__dict__)
    return stage


# ----------------------------------------------------------------------------------------------------
# Deployments
# ----------------------------------------------------------------------------------------------------
def restapi_create_deployment(
    self: Any,
    name: str,
    description: str,
    stage_variables: Any = None,
    canary_settings: dict[str, Any] | None = None,
    stage_description: str | None = None,
) -> Any:
    stage = self.stages.get(name) if name else None
    if canary_settings is not None and name and stage is None:
        # "you cannot specify any non-existing stage name when creating a canary release deployment"
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
        raise _not_found(
            f"Invalid stage identifier specified: stage {name!r} does not exist; create the stage "
            "with a regular deployment before deploying a canary to it."
        )
    deployment_id = ApigwDeploymentIdentifier(self.account_id, self.region_name, stage_name=name).generate(
        list(self.deployments.keys())
    )
    deployment = apigw_models.Deployment(deployment_id, name, description or "")
    deployment.snapshot = snapshot_api(self)
    self.deployments[deployment_id] = deployment
    if not name:
        return deployment
    if stage is None:
        self.stages[name] = apigw_models.Stage(
            name=name,
            deployment_id=deployment_id,
            variables=dict(stage_variables or {}),
            description=stage_description or "",
        )
        return deployment
    if stage_variables:
        stage.variables.update(stage_variables)
    if canary_settings is not None:
        # The stage keeps its deployment; the new one becomes the canary.
        stage.canary_settings = normalise_canary(
            self, dict(canary_settings, deploymentId=deployment_id), None
        )
    elif stage.canary_settings is not None:
        # Deploying to a canary-enabled stage pushes the new version to the canary, not the stage.
        stage.canary_settings["deploymentId"] = deployment_id
    else:
        stage.deployment_id = deployment_id
    stage.last_updated_date = int(time.time())
    return deployment


def backend_create_deployment(
    self: Any,
    function_id: str,
    name: str,
    description: str = "",
    stage_variables: Any = None,
    canary_settings: dict[str, Any] | None = None,
    stage_description: str | None = None,
) -> Any:
    api = self.get_rest_api(function_id)
    methods = [m for res in api.resources.values() for m in res.resource_methods.values()]
    if not methods:
        raise NoMethodDefined()
    if not any(m.method_integration for m in methods):
        raise NoIntegrationDefined()
    return api.create_deployment(name, description, stage_variables, canary_settings, stage_description)


def restapi_delete_deployment(self: Any, deployment_id: str) -> Any:
    if deployment_id not in self.deployments:
        raise _not_found("Invalid Deployment identifier specified")
    for stage in self.stages.values():
        canary = getattr(stage, "canary_settings", None) or {}
        if stage.deployment_id == deployment_id or canary.get("deploymentId") == deployment_id:
            raise StageStillActive()
    return self.deployments.pop(deployment_id)


def restapi_create_stage(
    self: Any,
    name: str,
    deployment_id: str,
    variables: Any,
    description: str,
    cacheClusterEnabled: bool | None,  # noqa: N803 - moto's keyword
    cacheClusterSize: str | None,  # noqa: N803
    tags: dict[str, str] | None,
    tracing_enabled: bool | None,
    canary_settings: dict[str, Any] | None = None,
) -> Any:
    if name in self.stages:
        raise ConflictException("Stage already exists")
    require_deployment(self, deployment_id)
    stage = apigw_models.Stage(
        name=name,
        deployment_id=deployment_id,
        variables=dict(variables or {}),
        description=description,
        cacheClusterSize=cacheClusterSize,
        cacheClusterEnabled=cacheClusterEnabled,
        tags=tags,
        tracing_enabled=tracing_enabled,
    )
    if canary_settings is not None:
        stage.canary_settings = normalise_canary(self, canary_settings, deployment_id)
    self.stages[name] = stage
    return stage


# ----------------------------------------------------------------------------------------------------
# Responses: read the request fields moto drops
# ----------------------------------------------------------------------------------------------------
def response_create_deployment(self: Any) -> Any:
    function_id = self.path.replace("/restapis/", "", 1).split("/")[0]
    name = self._get_param("stageName")
    description = self._get_param("description")
    stage_variables = self._get_param("variables", if_none={})
    canary = self._get_param("canarySettings")
    stage_description = self._get_param("stageDescription")
    if canary is not None and not isinstance(canary, dict):
        raise BadRequestException("canarySettings must be an object.")
    deployment = self.backend.create_deployment(
        function_id, name, description, stage_variables, canary, stage_description
    )
    return 201, {"status": 201}, json.dumps(deployment_to_json(deployment))


def deployment_to_json(deployment: Any) -> dict[str, Any]:
    dct = {"id": deployment.id, "createdDate": deployment.created_date}
    if deployment.description:
        dct["description"] = deployment.description
    return dct


def response_create_stage(self: Any) -> Any:
    function_id = self.path.split("/")[2]
    api = self.backend.get_rest_api(function_id)
    stage = api.create_stage(
        self._get_param("stageName"),
        self._get_param("deploymentId"),
        variables=self._get_param("variables", if_none={}),
        description=self._get_param("description", if_none=""),
        cacheClusterEnabled=self._get_param("cacheClusterEnabled", if_none=False),
        cacheClusterSize=self._get_param("cacheClusterSize"),
        tags=self._get_param("tags"),
        tracing_enabled=self._get_param("tracingEnabled"),
        canary_settings=self._get_param("canarySettings"),
    )
    return 201, {"status": 201}, json.dumps(stage.to_json())


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    stage_cls = apigw_models.Stage
    _original["stage_init"] = stage_cls.__init__
    _original["stage_to_json"] = stage_cls.to_json
    _original["stage_apply_operations"] = stage_cls.apply_operations
    stage_cls.__init__ = stage_init
    stage_cls.to_json = stage_to_json
    api_cls = apigw_models.RestAPI
    api_cls.create_deployment = restapi_create_deployment
    api_cls.delete_deployment = restapi_delete_deployment
    api_cls.create_stage = restapi_create_stage
    backend_cls = apigw_models.APIGatewayBackend
    backend_cls.update_stage = backend_update_stage
    backend_cls.create_deployment = backend_create_deployment
    apigw_models.Deployment.to_json = deployment_to_json
    resp_cls = apigw_responses.APIGatewayResponse
    resp_cls.create_deployment = response_create_deployment
    resp_cls.create_stage = response_create_stage
