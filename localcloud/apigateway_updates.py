"""API Gateway Update* operations moto 5.2.5 does not implement (they answer HTTP 500).

The recipe runs `aws apigateway update-integration`, and the Terraform provider updates methods, integrations,
responses, resources and deployments in place with these calls, so each applies its PatchOperations to moto's
model object. https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.apigateway import models as apigw_models
from moto.apigateway import responses as apigw_responses
from moto.apigateway.exceptions import BadRequestException

# json field -> (attribute, kind); kind: str | int | bool | map | list
INTEGRATION = {
    "uri": ("uri", "str"),
    "httpMethod": ("http_method", "str"),
    "type": ("integration_type", "str"),
    "timeoutInMillis": ("timeout_in_millis", "int"),
    "credentials": ("credentials", "str"),
    "connectionType": ("connection_type", "str"),
    "connectionId": ("connection_id", "str"),
    "passthroughBehavior": ("passthrough_behaviour", "str"),
    "contentHandling": ("content_handling", "str"),
    "cacheNamespace": ("cache_namespace", "str"),
    "requestTemplates": ("request_templates", "map"),
    "requestParameters": ("request_parameters", "map"),
    "cacheKeyParameters": ("cache_key_parameters", "list"),
    "tlsConfig": ("tls_config", "map"),
}
METHOD = {
    "authorizationType": ("authorization_type", "str"),
    "authorizerId": ("authorizer_id", "str"),
    "apiKeyRequired": ("api_key_required", "bool"),
    "operationName": ("operation_name", "str"),
    "requestValidatorId": ("request_validator_id", "str"),
    "requestParameters": ("request_parameters", "map"),
    "requestModels": ("request_models", "map"),
    "authorizationScopes": ("authorization_scopes", "list"),
}
METHOD_RESPONSE = {
    "responseParameters": ("response_parameters", "map"),
    "responseModels": ("response_models", "map"),
}
INTEGRATION_RESPONSE = {
    "selectionPattern": ("selection_pattern", "str"),
    "contentHandling": ("content_handling", "str"),
    "responseParameters": ("response_parameters", "map"),
    "responseTemplates": ("response_templates", "map"),
}
DEPLOYMENT = {"description": ("description", "str")}
RESOURCE = {"pathPart": ("path_part", "str"), "parentId": ("parent_id", "str")}
DOMAIN_NAME = {
    "certificateName": ("certificate_name", "str"),
    "certificateArn": ("certificate_arn", "str"),
    "regionalCertificateName": ("regional_certificate_name", "str"),
    "regionalCertificateArn": ("regional_certificate_arn", "str"),
    "securityPolicy": ("security_policy", "str"),
}


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _convert(kind: str, value: Any, field: str) -> Any:
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise BadRequestException(f"Invalid value for {field}: {value!r} (expected an integer)") from None
    if kind == "bool":
        text = str(value).lower()
        if text not in ("true", "false"):
            raise BadRequestException(f"Invalid value for {field}: {value!r} (expected true or false)")
        return text == "true"
    return value


def apply_patch(obj: Any, fields: dict[str, tuple[str, str]], operations: list[dict[str, Any]]) -> None:
    for op in operations or []:
        kind_op = op.get("op")
        parts = [_unescape(p) for p in (op.get("path") or "").split("/")[1:]]
        if not parts or parts[0] not in fields:
            raise BadRequestException(
                f"Invalid patch path {op.get('path')!r}; patchable fields are "
                f"{', '.join('/' + f for f in sorted(fields))}"
            )
        attr, kind = fields[parts[0]]
        value = op.get("value")
        if kind in ("map", "list") and len(parts) > 1:
            key = "/".join(parts[1:])
            if kind == "map":
                current = dict(getattr(obj, attr, None) or {})
                if kind_op == "remove":
                    current.pop(key, None)
                else:
                    current[key] = value
                setattr(obj, attr, current)
            else:
                items = list(getattr(obj, attr, None) or [])
                if kind_op == "remove":
                    items = [i for i in items if i != key]
                elif key not in items:
                    items.append(key)
                setattr(obj, attr, items)
            continue
        if kind_op == "remove":
            setattr(obj, attr, None)
        elif kind_op in ("replace", "add"):
            if kind in ("map", "list") and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            setattr(obj, attr, _convert(kind, value, parts[0]))
        else:
            raise BadRequestException(f"Patch operation {kind_op!r} is not supported on {op.get('path')}")


def _parts(self: Any) -> list[str]:
    return self.path.split("/")


def update_integration(self: Any) -> str:
    p = _parts(self)
    integration = self.backend.get_integration(p[2], p[4], p[6])
    apply_patch(integration, INTEGRATION, self._get_param("patchOperations"))
    return json.dumps(integration.to_json())


def update_method(self: Any) -> str:
    p = _parts(self)
    method = self.backend.get_method(p[2], p[4], p[6])
    apply_patch(method, METHOD, self._get_param("patchOperations"))
    return json.dumps(method.to_json())


def update_method_response(self: Any) -> str:
    p = _parts(self)
    response = self.backend.get_method_response(p[2], p[4], p[6], p[8])
    apply_patch(response, METHOD_RESPONSE, self._get_param("patchOperations"))
    return json.dumps(response.to_json())


def update_integration_response(self: Any) -> str:
    p = _parts(self)
    response = self.backend.get_integration_response(p[2], p[4], p[6], p[9])
    apply_patch(response, INTEGRATION_RESPONSE, self._get_param("patchOperations"))
    return json.dumps(response.to_json())


def update_deployment(self: Any) -> str:
    p = _parts(self)
    deployment = self.backend.get_deployment(p[2], p[4])
    apply_patch(deployment, DEPLOYMENT, self._get_param("patchOperations"))
    return json.dumps(deployment.to_json())


def update_resource(self: Any) -> str:
    p = _parts(self)
    resource = self.backend.get_resource(p[2], p[4])
    apply_patch(resource, RESOURCE, self._get_param("patchOperations"))
    return json.dumps(resource.to_dict())


def update_domain_name(self: Any) -> str:
    p = _parts(self)
    domain = self.backend.get_domain_name(p[2])
    apply_patch(domain, DOMAIN_NAME, self._get_param("patchOperations"))
    return json.dumps(domain.to_json())


def _account_patch(original: Any) -> Any:
    """UpdateAccount: `replace /cloudwatchRoleArn` without a value (or `remove`) clears the role.

    The Terraform provider resets the account this way when an aws_api_gateway_account is destroyed; moto
    raised KeyError('value') (HTTP 500), which the provider retries for ten minutes.
    https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateAccount.html
    """

    def apply_patch_operations(self: Any, patch_operations: list[dict[str, Any]]) -> Any:
        rest = []
        for op in patch_operations:
            if op.get("path") == "/cloudwatchRoleArn" and (op.get("op") == "remove" or not op.get("value")):
                self.cloudwatch_role_arn = None
            else:
                rest.append(op)
        return original(self, rest)

    return apply_patch_operations


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    cls = apigw_responses.APIGatewayResponse
    cls.update_integration = update_integration
    cls.update_method = update_method
    cls.update_method_response = update_method_response
    cls.update_integration_response = update_integration_response
    cls.update_deployment = update_deployment
    cls.update_resource = update_resource
    cls.update_domain_name = update_domain_name
    apigw_models.Account.apply_patch_operations = _account_patch(apigw_models.Account.apply_patch_operations)
