"""API Gateway stages and deployments with canary releases, as AWS documents them.

Fixes to moto 5.2.5 (each cited to the AWS page it follows):
- CreateDeployment with canarySettings on an existing stage keeps the stage's deploymentId and attaches the
  new deployment as the canary; a non-canary deployment to a canary-enabled stage also goes to the canary;
  a canary deployment to a stage that does not exist is an error.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
- CreateStage and UpdateStage accept canarySettings and GetStage(s) return them; UpdateStage's patch
  operations, canary paths included, are in localcloud/stage_patch.py.
- Deployments snapshot the API definition, so a canary can serve a changed integration while the stage serves
  the old one; CreateDeployment no longer replaces the whole stage (variables, method settings, tags survive).
- A deployment is "active" (cannot be deleted) while a stage or a stage's canary points at it.
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
from .stage_patch import apply_operations, normalise_canary, require_deployment


def _not_found(message: str) -> Exception:
    from moto.apigateway.exceptions import NotFoundException

    exc = NotFoundException(message)
    exc.code = 404
    return exc


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


def _moto_apply(stage: Any, op: dict[str, Any]) -> None:
    _original["stage_apply_operations"](stage, [op])


def backend_update_stage(self: Any, function_id: str, stage_name: str, patch_operations: Any) -> Any:
    api = self.get_rest_api(function_id)
    stage = api.stages.get(stage_name)
    if stage is None:
        raise StageNotFoundException()
    working = apply_operations(api, stage, patch_operations, _moto_apply)
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
